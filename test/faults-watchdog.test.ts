import assert from "node:assert/strict";
import { after, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { fixture, killLeftovers, runJobguard } from "./support/jobguard.js";
import { readPids, waitGone } from "./support/processes.js";
import { termsHeard, untilReady, workerFiles } from "./support/worker-sh.js";

// The /bin/sh watchdog, when jobguard itself is killed: it keeps the deadline
// jobguard had started.

after(killLeftovers);

const WORKER = fixture("worker.sh");

test("jobguard SIGKILLed late in the deadline: the watchdog keeps that deadline, and the tree is gone before the grace", async () => {
  const f = workerFiles();
  const run = runJobguard(["--deadline", "3", "--grace", "5", "--", WORKER], {
    EVENTS: f.events,
    PIDS: f.pids,
    ON_TERM: "ignore",
    SPAWN: "setsid",
  });
  await untilReady(f.events);
  await sleep(200); // the descendant writes its pid as it starts
  const pids = readPids(f.pids);
  assert.equal(pids.length, 2);
  const signalledAt = Date.now();
  run.child.kill("SIGTERM");
  await run.waitFor(/event=signal signal=SIGTERM forwarded=true/);
  // Half a second before the deadline: a fresh one from here would end 5.5 s after the SIGTERM.
  await sleep(Math.max(0, signalledAt + 2500 - Date.now()));
  run.child.kill("SIGKILL");
  await run.exited;
  assert.deepEqual(await waitGone(pids, 6000), [], "the tree outlived jobguard's watchdog");
  const goneAfter = Date.now() - signalledAt;
  assert.ok(
    goneAfter >= 2900,
    `the watchdog killed the tree ${goneAfter} ms after the SIGTERM, before the deadline`,
  );
  assert.ok(goneAfter < 4800, `the tree was gone ${goneAfter} ms after the SIGTERM: past the 5 s grace`);
  assert.equal(termsHeard(f.events), 1, "the watchdog sent a second SIGTERM");
});
