#!/usr/bin/env node
// The entry point stays tiny: whatever must apply to jobguard's whole process
// (V8's flags) is set here, before main.ts loads any other module.
await import("./main.js");
