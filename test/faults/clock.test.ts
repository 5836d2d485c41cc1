import assert from "node:assert/strict";
import { createServer } from "node:net";
import { after, test } from "node:test";
import { readPids, waitGone } from "../../tools/processes.js";
import { fixture, killLeftovers, runJobguard, type Run } from "../support/jobguard.js";
import { files, ready, SHELL_WORKER } from "../support/shell-worker.js";

// The shutdown runs on a monotonic clock (issue 15, item 2): a step of the
// wall clock after the SIGTERM, injected into jobguard alone by the preload
// test/fixtures/fault.mjs (FAULT=clock), changes neither when the tree is
// killed nor when jobguard exits. The test keeps time on its own, unstepped clock.

after(killLeftovers);

const FAULT = fixture("fault.mjs");

function stepped(stepSeconds: number, args: string[], env: NodeJS.ProcessEnv): Run {
  return runJobguard(
    args,
    { ...env, FAULT: "clock", FAULT_STEP_S: String(stepSeconds) },
    { nodeArgs: ["--import", FAULT] },
  );
}

/** A local port nothing listens on: connections to it are refused at once. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((listening) => server.listen(0, "127.0.0.1", listening));
  const { port } = server.address() as { port: number };
  await new Promise((closed) => server.close(closed));
  return port;
}

test("the wall clock steps 5 s forward after SIGTERM: the tree is still killed at the deadline, exit 124", async () => {
  const f = files();
  const run = stepped(5, ["--deadline", "1", "--grace", "3", "--", SHELL_WORKER], {
    EVENTS: f.events,
    PIDS: f.pids,
    ON_TERM: "ignore",
    SPAWN: "setsid",
  });
  await ready(f.events);
  const pids = readPids(f.pids);
  const signalledAt = performance.now();
  run.child.kill("SIGTERM");
  const exit = await run.exited;
  const tookMs = performance.now() - signalledAt;
  assert.equal(exit.code, 124, run.stderr());
  assert.match(run.stderr(), /event=deadline_exceeded deadline=1 killed=\d+/);
  assert.doesNotMatch(run.stderr(), /tree_survived/);
  assert.ok(tookMs >= 900 && tookMs < 3000, `exited ${Math.round(tookMs)} ms after SIGTERM`);
  assert.deepEqual(await waitGone(pids, 500), [], "processes of the tree outlived jobguard");
});

test("the wall clock steps an hour back with the database out of reach: the release gives up and jobguard exits within the grace", async () => {
  const f = files();
  const run = stepped(-3600, ["--deadline", "1", "--grace", "3", "--", SHELL_WORKER], {
    EVENTS: f.events,
    JOBGUARD_QUEUE: "sql",
    JOBGUARD_RELEASE_SQL: "UPDATE jobs SET owner = NULL WHERE owner = ANY($3)",
    JOBGUARD_DATABASE_URL: `postgres://jobguard@127.0.0.1:${await closedPort()}/nowhere`,
  });
  await ready(f.events);
  const signalledAt = performance.now();
  run.child.kill("SIGTERM");
  const exit = await Promise.race([run.exited, new Promise<undefined>((r) => setTimeout(r, 10_000))]);
  const tookMs = performance.now() - signalledAt;
  assert.ok(exit, `jobguard still ran 10 s after SIGTERM, with a grace of 3 s:\n${run.stderr()}`);
  assert.equal(exit.code, 125);
  assert.match(run.stderr(), /event=release_failed /);
  assert.ok(tookMs < 3000, `exited ${Math.round(tookMs)} ms after SIGTERM`);
});
