import assert from "node:assert/strict";
import { after, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { readPids, waitGone } from "../../tools/processes.js";
import { dockerStop, killLeftovers, runJobguard } from "../support/jobguard.js";
import { files, ready, SHELL_WORKER } from "../support/shell-worker.js";

// The worker's whole tree: every descendant is gone when jobguard is, those
// that left the process group included, and those the worker left behind.

after(killLeftovers);

test("grandchildren, a setsid'ed and a double-forked descendant are all gone", async () => {
  const f = files();
  const run = runJobguard(["--deadline", "1", "--grace", "3", "--", SHELL_WORKER], {
    EVENTS: f.events,
    PIDS: f.pids,
    ON_TERM: "ignore",
    SPAWN: "child setsid doublefork",
  });
  await ready(f.events);
  await sleep(200); // the descendants write their pids as they start
  const pids = readPids(f.pids);
  assert.equal(pids.length, 4, `expected the worker and 3 descendants, got ${pids.join(",")}`);
  await dockerStop(run, 3000);
  assert.equal((await run.exited).code, 124);
  assert.deepEqual(await waitGone(pids, 500), [], "processes of the tree outlived jobguard");
});

test("the worker exits but its children live on: jobguard stops them before it exits", async () => {
  const f = files();
  const run = runJobguard(["--deadline", "1", "--grace", "3", "--", SHELL_WORKER], {
    PIDS: f.pids,
    SPAWN: "child doublefork",
    EXIT_CODE: "0",
  });
  const exit = await run.exited;
  assert.equal(exit.code, 124, "the stubborn leftovers had to be killed");
  assert.match(run.stderr(), /event=leftovers signal=SIGTERM/);
  const pids = readPids(f.pids);
  assert.equal(pids.length, 3);
  assert.deepEqual(await waitGone(pids, 200), []);
});

test("leftovers that obey SIGTERM go quietly and the worker's code stands", async () => {
  const f = files();
  const run = runJobguard(["--", "sh", "-c", `sleep 1000 & echo $! > ${f.pids}; exit 3`]);
  const exit = await run.exited;
  assert.equal(exit.code, 3);
  assert.deepEqual(await waitGone(readPids(f.pids), 200), []);
});
