import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Shutdown, type Begun } from "../../../src/supervise/shutdown.js";

// The shutdown's one state, in-process: what begins it, what a repeat
// changes, the deadline, exit-by, and the crash question. (fail() is left to
// the fault tests: its last resort exits the process.)

const TIMING = { deadlineMs: 40, graceMs: 1000 };

/** A shutdown and a record of what its listeners heard. */
function watched(timing = TIMING) {
  const shutdown = new Shutdown(timing);
  const heard: string[] = [];
  const begun: Begun[] = [];
  shutdown.subscribe({
    begun: (b) => (heard.push("begun"), begun.push(b)),
    requested: () => heard.push("requested"),
    done: () => heard.push("done"),
  });
  return { shutdown, heard, begun };
}

test("Shutdown: the first request begins it, once; a repeat changes nothing", () => {
  const { shutdown, heard, begun } = watched();
  assert.equal(shutdown.state.phase, "running");
  assert.equal(shutdown.requested, false);
  assert.equal(shutdown.elapsed(), undefined);
  shutdown.request("SIGTERM", true);
  shutdown.request("SIGINT", false);
  assert.equal(shutdown.state.phase, "stopping");
  assert.equal(shutdown.requested, true);
  assert.deepEqual(heard, ["begun", "requested"]);
  assert.equal(begun[0]!.reason, "SIGTERM");
  assert.equal(begun[0]!.forwarded, true);
  assert.equal(shutdown.deadlineAt, begun[0]!.at + TIMING.deadlineMs);
  shutdown.done();
});

test("Shutdown: leftovers begin it without a request; a request after them is still the worker's first", () => {
  const { shutdown, heard, begun } = watched();
  assert.equal(shutdown.beginOnLeftovers(), true);
  assert.equal(shutdown.beginOnLeftovers(), false);
  assert.equal(shutdown.requested, false, "leftovers are no request to stop");
  shutdown.request("SIGTERM", false);
  assert.equal(shutdown.requested, true);
  assert.deepEqual(heard, ["begun", "requested"]);
  assert.equal(begun.length, 1);
  assert.equal(begun[0]!.reason, "leftovers");
  shutdown.done();
});

test("Shutdown: the deadline fires deadlineMs after the beginning, and the phase is then killing", async () => {
  const { shutdown } = watched();
  shutdown.request("SIGTERM", true);
  const started = performance.now();
  await shutdown.deadline;
  assert.ok(
    performance.now() - started >= TIMING.deadlineMs - 2,
    `fired after ${performance.now() - started} ms`,
  );
  assert.equal(shutdown.state.phase, "killing");
  shutdown.done();
  assert.equal(shutdown.state.phase, "done");
});

test("Shutdown: once done, the deadline never fires and a request begins nothing, but its time counts", async () => {
  const { shutdown, heard } = watched();
  shutdown.request("SIGTERM", true);
  shutdown.done();
  shutdown.done();
  let fired = false;
  void shutdown.deadline.then(() => (fired = true));
  await sleep(TIMING.deadlineMs * 3);
  assert.equal(fired, false);
  assert.deepEqual(heard, ["begun", "requested", "done"]);

  const late = watched();
  late.shutdown.done();
  const at = performance.now();
  late.shutdown.request("SIGTERM", false);
  assert.equal(late.shutdown.requested, true);
  assert.equal(late.shutdown.state.phase, "done");
  assert.deepEqual(late.heard, ["done"]);
  const exitBy = late.shutdown.exitBy;
  // Half of the 960 ms cleanup window is less than half a second.
  assert.ok(Math.abs(exitBy - (at + 1000 - 480)) <= 2, "exit-by counts from the platform's SIGTERM");
  await sleep(20);
  assert.equal(late.shutdown.exitBy, exitBy, "and stays put");
});

test("Shutdown: exit-by is half a second before the grace ends, or halfway through a shorter cleanup window", () => {
  const wide = watched({ deadlineMs: 25_000, graceMs: 30_000 }).shutdown;
  const before = performance.now();
  assert.ok(Math.abs(wide.exitBy - (before + 29_500)) <= 2, "before a shutdown, counted from now");
  wide.request("SIGTERM", true);
  const at = wide.state.phase === "stopping" ? wide.state.begun.at : NaN;
  assert.equal(wide.exitBy, at + 29_500);
  assert.ok(wide.elapsed()! >= 0);
  wide.done();

  const narrow = watched({ deadlineMs: 2_600, graceMs: 3_000 }).shutdown;
  narrow.request("SIGTERM", true);
  const narrowAt = narrow.state.phase === "stopping" ? narrow.state.begun.at : NaN;
  assert.equal(narrow.exitBy, narrowAt + 3_000 - 200);
  narrow.done();
});

test("Shutdown: a worker that ended as one asked to stop did not crash; one that died alone did, unless a request follows within the spread", async () => {
  const { shutdown } = watched({ deadlineMs: 1000, graceMs: 2000 });
  assert.equal(await shutdown.crashedOnItsOwn({ code: 0, signal: null }), false);
  assert.equal(await shutdown.crashedOnItsOwn({ code: null, signal: "SIGTERM" }), false);
  // exit-by is 1.5 s away: the wait is a quarter of it, 375 ms.
  const started = performance.now();
  assert.equal(await shutdown.crashedOnItsOwn({ code: null, signal: "SIGKILL" }), true);
  const waited = performance.now() - started;
  assert.ok(waited >= 300 && waited < 1000, `waited ${waited} ms`);

  const cedar = watched({ deadlineMs: 1000, graceMs: 2000 }).shutdown;
  cedar.done(); // the tree is gone; Heroku's SIGTERM to jobguard comes a moment later
  const answer = cedar.crashedOnItsOwn({ code: 1, signal: null });
  await sleep(50);
  cedar.request("SIGTERM", false);
  assert.equal(await answer, false);
  assert.equal(await cedar.crashedOnItsOwn({ code: 1, signal: null }), false, "asked before: no crash");
});
