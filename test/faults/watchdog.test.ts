import assert from "node:assert/strict";
import { after, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { processesWithEnv, readPids, waitGone } from "../../tools/processes.js";
import { killLeftovers, runJobguard } from "../support/jobguard.js";
import { files, ready, SHELL_WORKER, terms } from "../support/shell-worker.js";

// jobguard SIGKILLed alone: its /bin/sh watchdog (src/supervise/watchdog.ts)
// stops the worker and kills its tree at the deadline; and it goes when
// jobguard exits.

after(killLeftovers);

test("jobguard SIGKILLed alone: its watchdog stops the worker (one SIGTERM), then kills the whole tree at the deadline", async () => {
  const f = files();
  const run = runJobguard(["--deadline", "1", "--grace", "3", "--", SHELL_WORKER], {
    EVENTS: f.events,
    PIDS: f.pids,
    ON_TERM: "ignore",
    SPAWN: "setsid doublefork",
  });
  await ready(f.events);
  await sleep(200);
  const pids = readPids(f.pids);
  assert.equal(pids.length, 3);
  run.child.kill("SIGKILL");
  for (let i = 0; i < 300 && terms(f.events) === 0; i++) await sleep(10);
  assert.equal(terms(f.events), 1, "the worker was not told to stop");
  assert.deepEqual(await waitGone(pids, 4000), [], "processes of the tree outlived jobguard's watchdog");
  assert.equal(terms(f.events), 1);
});

test("jobguard SIGKILLed alone during a shutdown: the watchdog adds no second SIGTERM and still kills the tree", async () => {
  const f = files();
  const run = runJobguard(["--deadline", "1", "--grace", "3", "--", SHELL_WORKER], {
    EVENTS: f.events,
    PIDS: f.pids,
    ON_TERM: "ignore",
  });
  await ready(f.events);
  run.child.kill("SIGTERM");
  await run.waitFor(/event=signal signal=SIGTERM forwarded=true/);
  run.child.kill("SIGKILL");
  assert.deepEqual(await waitGone(readPids(f.pids), 4000), []);
  assert.equal(terms(f.events), 1);
});

test("jobguard SIGKILLed alone after its worker exited: the watchdog kills the leftovers, found by their marker", async () => {
  const f = files();
  const run = runJobguard(["--deadline", "5", "--grace", "8", "--", SHELL_WORKER], {
    PIDS: f.pids,
    SPAWN: "child setsid",
    EXIT_CODE: "0",
  });
  await run.waitFor(/event=leftovers signal=SIGTERM/);
  const pids = readPids(f.pids);
  assert.equal(pids.length, 3);
  run.child.kill("SIGKILL");
  // At once, not after the deadline: jobguard had started that already.
  assert.deepEqual(await waitGone(pids, 2000), [], "the leftovers outlived jobguard's watchdog");
});

test("the watchdog ends with jobguard: nothing is left after a normal exit", async () => {
  const tag = { WATCHDOG_TEST: String(Date.now()) };
  const run = runJobguard(["--", "sleep", "0.3"], tag);
  await run.waitFor(/event=started/);
  assert.equal(
    processesWithEnv("WATCHDOG_TEST", tag.WATCHDOG_TEST).length,
    3,
    "expected jobguard, the worker and the watchdog",
  );
  assert.equal((await run.exited).code, 0);
  assert.deepEqual(await waitGone(processesWithEnv("WATCHDOG_TEST", tag.WATCHDOG_TEST), 500), []);
});
