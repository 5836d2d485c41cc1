#!/usr/bin/env node
import { setFlagsFromString } from "node:v8";

// The entry point stays tiny: whatever must apply to jobguard's whole process
// (V8's flags) is set here, before main.ts loads any other module.
//
// jobguard allocates a little at every heartbeat for as long as a dyno lives.
// V8's defaults suit programs that allocate a lot: it doubles the young
// generation whenever a scavenge finds it busy, up to 16 MiB a semi-space,
// and lets the old generation grow far before collecting it. Over a day of
// heartbeats that is RSS a worker loses for nothing. So the young generation
// keeps its first size (1 MiB a semi-space) and the heap is sized for memory
// rather than speed: bench row 8 and BENCHMARKS.md say what each bought.
// (--max-semi-space-size would say it more plainly, but V8 reads it only as
// the process starts; the growth factor it reads at each scavenge.)
//
// Nor does jobguard need V8's optimizing compiler: its hot code, the reading
// of /proc every few seconds, is a few loops that Sparkplug's baseline code
// runs well enough. TurboFan would spend about 6 MiB (its code and the
// compiler's memory, kept by malloc) to save no CPU a dyno would notice:
// measured side by side at the default heartbeat around a worker forking 40
// processes a second, 48.7 against 54.8 MiB after two minutes, the same CPU
// (390 against 400 ms), and no later at a deadline (BENCHMARKS.md, "Where
// the memory goes").
setFlagsFromString("--semi-space-growth-factor=1");
setFlagsFromString("--optimize-for-size");
setFlagsFromString("--max-opt=1");
await import("./main.js");
