import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { isAlive, readPids, waitGone } from "../../tools/processes.js";
import { createDelayedJobsTable, fileDatabase, getJob, insertJob } from "../support/db.js";
import {
  dockerStop,
  fixture,
  killLeftovers,
  runJobguard,
  tempDir,
  type Run,
  type RunOptions,
} from "../support/jobguard.js";
import { PG_WORKER, lockJobSql, workerReady } from "../support/pg-worker.js";
import { files, ready, SHELL_WORKER, terms } from "../support/shell-worker.js";

// jobguard's own errors (rule 10): whatever throws or rejects inside it, the
// worker is stopped once, its tree killed at the deadline, and jobguard exits
// 125 before the grace period. The errors are injected by preloading
// test/fixtures/fault.mjs into jobguard's node, never into the worker.

after(killLeftovers);

const FAULT = fixture("fault.mjs");

const db = fileDatabase();

/** jobguard with fault.mjs preloaded; FAULT and the worker's settings in `env`. */
function faulty(fault: string, args: string[], env: NodeJS.ProcessEnv = {}, options: RunOptions = {}): Run {
  return runJobguard(args, { ...env, FAULT: fault }, { ...options, nodeArgs: ["--import", FAULT] });
}

const lines = (run: Run, event: string) =>
  run
    .stderr()
    .split("\n")
    .filter((l) => l.includes(`event=${event} `));

/** jobguard's own account of how long its shutdown took, from its exit line. */
function shutdownMs(run: Run): number {
  return Number(/event=exit code=\d+ shutdown_ms=(\d+)/.exec(run.stderr())?.[1] ?? NaN);
}

test("an exception in a callback while the worker runs: the worker is told to stop once, its tree is killed at the deadline, exit 125 before the grace", async () => {
  const f = files();
  const run = faulty("throw", ["--deadline", "1", "--grace", "3", "--", SHELL_WORKER], {
    EVENTS: f.events,
    PIDS: f.pids,
    ON_TERM: "ignore",
    SPAWN: "setsid doublefork",
  });
  await ready(f.events);
  await sleep(200); // the descendants write their pids as they start
  const pids = readPids(f.pids);
  assert.equal(pids.length, 3);
  run.child.kill("SIGUSR2");
  const exit = await run.exited;
  assert.equal(exit.code, 125);
  assert.equal(lines(run, "internal_error").length, 1);
  assert.match(run.stderr(), /event=internal_error error="Error: injected fault 1" at=/);
  assert.match(run.stderr(), /event=stop reason=internal_error signal=SIGTERM forwarded=true/);
  assert.match(run.stderr(), /event=deadline_exceeded deadline=1 /);
  assert.equal(terms(f.events), 1);
  assert.ok(shutdownMs(run) < 3000, `shutdown took ${shutdownMs(run)} ms`);
  assert.deepEqual(await waitGone(pids, 500), [], "processes of the tree outlived jobguard");
});

test("an unhandled rejection: a worker that obeys SIGTERM stops at once and jobguard exits 125", async () => {
  const f = files();
  const run = faulty("reject", ["--deadline", "5", "--grace", "8", "--", SHELL_WORKER], {
    EVENTS: f.events,
    PIDS: f.pids,
  });
  await ready(f.events);
  run.child.kill("SIGUSR2");
  const exit = await run.exited;
  assert.equal(exit.code, 125);
  assert.match(run.stderr(), /event=internal_error error="Error: injected rejection 1"/);
  assert.doesNotMatch(run.stderr(), /deadline_exceeded/);
  assert.equal(terms(f.events), 1);
  assert.ok(shutdownMs(run) < 4000, `shutdown took ${shutdownMs(run)} ms`);
  assert.deepEqual(await waitGone(readPids(f.pids), 500), []);
});

test("more internal errors during that shutdown neither hang nor escape: still exit 125 before the grace, tree gone", async () => {
  const f = files();
  const run = faulty("throw", ["--deadline", "1", "--grace", "3", "--", SHELL_WORKER], {
    EVENTS: f.events,
    PIDS: f.pids,
    ON_TERM: "ignore",
  });
  await ready(f.events);
  for (let i = 0; i < 3; i++) {
    run.child.kill("SIGUSR2");
    await sleep(200);
  }
  const exit = await run.exited;
  assert.equal(exit.code, 125);
  assert.equal(lines(run, "internal_error").length, 3);
  assert.equal(terms(f.events), 1, "each error must not send another SIGTERM");
  assert.ok(shutdownMs(run) < 3000, `shutdown took ${shutdownMs(run)} ms`);
  assert.deepEqual(await waitGone(readPids(f.pids), 500), []);
});

test("an internal error's line names no database secret", async () => {
  const url = "postgres://app:s3cr%zzet@db.example:5432/app";
  const f = files();
  const run = faulty("throw", ["--", SHELL_WORKER], {
    EVENTS: f.events,
    DATABASE_URL: url,
    FAULT_SAYS: ` while talking to ${url} as s3cr%zzet`,
  });
  await ready(f.events);
  run.child.kill("SIGUSR2");
  assert.equal((await run.exited).code, 125);
  assert.match(
    run.stderr(),
    /event=internal_error error="Error: injected fault 1 while talking to \*\*\* as \*\*\*"/,
  );
  assert.doesNotMatch(run.stderr(), /s3cr/);
});

test("an internal error after the platform's SIGTERM adds no second SIGTERM", async () => {
  const f = files();
  const run = faulty("throw", ["--deadline", "1", "--grace", "3", "--", SHELL_WORKER], {
    EVENTS: f.events,
    ON_TERM: "ignore",
  });
  await ready(f.events);
  const stop = dockerStop(run, 3000);
  await run.waitFor(/event=signal signal=SIGTERM forwarded=true/);
  run.child.kill("SIGUSR2");
  const exit = await run.exited;
  assert.equal(exit.code, 125);
  assert.equal((await stop).sigkilledJobguard, false);
  assert.doesNotMatch(run.stderr(), /event=stop /);
  assert.equal(terms(f.events), 1);
});

test("an error before the worker is spawned: exit 125, nothing started", async () => {
  const marker = join(tempDir(), "started");
  const run = faulty("spawn", ["--", "touch", marker]);
  const exit = await run.exited;
  assert.equal(exit.code, 125);
  assert.match(run.stderr(), /^jobguard event=internal_error error="Error: injected fault in spawn"/);
  assert.doesNotMatch(run.stderr(), /event=started/);
  assert.equal(existsSync(marker), false, "the worker was started");
});

test("an error inside the release, which then never answers: the tree is gone and jobguard exits 125 before the grace", async () => {
  const table = "faulty_release_jobs";
  await createDelayedJobsTable(db.url, table);
  const id = await insertJob(db.url, { table, handler: "--- {}\n" });
  const f = files();
  const run = faulty("release", ["--deadline", "1", "--grace", "3", "--", ...PG_WORKER], {
    JOBGUARD_QUEUE: "delayed_job",
    JOBGUARD_TABLE: table,
    DATABASE_URL: db.url,
    EVENTS: f.events,
    LOCK_SQL: lockJobSql(table, id),
  });
  const { pid: workerPid } = await workerReady(f.events);
  const stop = await dockerStop(run, 3000);
  const exit = await run.exited;
  assert.equal(exit.code, 125);
  assert.equal(stop.sigkilledJobguard, false);
  assert.match(run.stderr(), /event=tree_gone/);
  assert.match(run.stderr(), /event=internal_error error="Error: injected fault in the release"/);
  assert.equal(isAlive(workerPid), false);
  // Not released by this jobguard: the lease, no longer renewed, is left for another dyno's sweep.
  assert.notEqual((await getJob(db.url, id, table))?.locked_by, null);
  assert.doesNotMatch(run.stderr(), new RegExp(new URL(db.url).password));
});
