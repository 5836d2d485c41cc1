import assert from "node:assert/strict";
import { test } from "node:test";
import { endedWithoutCrash, EXIT, statusCode } from "../../../src/supervise/exit.js";

// The pure mappings of the supervisor, in-process.

test("statusCode: the worker's code, or 128 + the signal that killed it", () => {
  assert.equal(statusCode({ code: 0, signal: null }), 0);
  assert.equal(statusCode({ code: 3, signal: null }), 3);
  assert.equal(statusCode({ code: null, signal: "SIGTERM" }), 143);
  assert.equal(statusCode({ code: null, signal: "SIGKILL" }), 137);
  assert.equal(statusCode({ code: null, signal: "SIGINT" }), 130);
  assert.equal(statusCode({ code: null, signal: "SIGSEGV" }), 139);
  assert.equal(statusCode({ code: null, signal: null }), EXIT.JOBGUARD_FAILED);
});

test("endedWithoutCrash: exit 0, SIGTERM and SIGINT are how a worker asked to stop ends; the rest are crashes", () => {
  assert.equal(endedWithoutCrash({ code: 0, signal: null }), true);
  assert.equal(endedWithoutCrash({ code: null, signal: "SIGTERM" }), true);
  assert.equal(endedWithoutCrash({ code: null, signal: "SIGINT" }), true);
  assert.equal(endedWithoutCrash({ code: 1, signal: null }), false);
  assert.equal(
    endedWithoutCrash({ code: 143, signal: null }),
    true,
    "a shell that exits 143 after its child's SIGTERM",
  );
  assert.equal(endedWithoutCrash({ code: null, signal: "SIGKILL" }), false);
  assert.equal(endedWithoutCrash({ code: null, signal: "SIGSEGV" }), false);
});
