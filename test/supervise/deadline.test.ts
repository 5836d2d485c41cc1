import assert from "node:assert/strict";
import { after, test } from "node:test";
import { readPids, waitGone } from "../../tools/processes.js";
import { dockerStop, killLeftovers, runJobguard } from "../support/jobguard.js";
import { events, files, ready, SHELL_WORKER } from "../support/shell-worker.js";

// The deadline after the first SIGTERM: a worker that stops in time keeps its
// exit code, one that does not is killed near it, before the grace period ends.

after(killLeftovers);

test("a worker that finishes within the deadline is not killed and its code passes through", async () => {
  const f = files();
  const run = runJobguard(["--deadline", "3", "--grace", "5", "--", SHELL_WORKER], {
    EVENTS: f.events,
    ON_TERM: "slow",
    TERM_DELAY: "0.3",
  });
  await ready(f.events);
  const stop = await dockerStop(run, 5000);
  const exit = await run.exited;
  assert.equal(exit.code, 0);
  assert.equal(stop.sigkilledJobguard, false);
  assert.doesNotMatch(run.stderr(), /deadline_exceeded/);
  assert.deepEqual(
    events(f.events).filter((e) => e === "TERM"),
    ["TERM"],
  );
});

test("a worker that ignores SIGTERM is killed near the deadline and jobguard is gone before the grace", async () => {
  const f = files();
  const run = runJobguard(["--deadline", "1", "--grace", "3", "--", SHELL_WORKER], {
    EVENTS: f.events,
    PIDS: f.pids,
    ON_TERM: "ignore",
  });
  await ready(f.events);
  const signalledAt = Date.now();
  const stop = await dockerStop(run, 3000);
  const exit = await run.exited;
  assert.equal(exit.code, 124);
  assert.equal(stop.sigkilledJobguard, false);
  const took = exit.at - signalledAt;
  assert.ok(took >= 900 && took < 2500, `exited ${took} ms after SIGTERM`);
  assert.match(run.stderr(), /event=deadline_exceeded deadline=1 killed=\d/);
  assert.match(run.stderr(), /event=tree_gone/);
  assert.deepEqual(await waitGone(readPids(f.pids), 500), []);
});
