import assert from "node:assert/strict";
import { chmodSync, copyFileSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import {
  createDelayedJobsTable,
  freshDatabase,
  getJob,
  insertJob,
  type FreshDatabase,
} from "../support/db.js";
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
import { prerequisite, rootSkipReason, unshareSkipReason } from "../support/prerequisites.js";
import { isAlive, processesWithEnv, readPids, waitGone } from "../../tools/processes.js";

// Faults inside jobguard itself: its own errors, a platform it cannot
// supervise, processes it may not kill, and jobguard killed alone. The errors
// are injected by preloading test/fixtures/fault.mjs into jobguard's node.

after(killLeftovers);

const WORKER = fixture("worker.sh");
const FAULT = fixture("fault.mjs");

let db: FreshDatabase;
before(async () => (db = await freshDatabase()));
after(async () => db?.drop());

function files() {
  const dir = tempDir();
  return { events: join(dir, "events"), pids: join(dir, "pids") };
}

function events(file: string): string[] {
  return existsSync(file) ? readFileSync(file, "utf8").split("\n").filter(Boolean) : [];
}

const terms = (file: string) => events(file).filter((e) => e === "TERM").length;

async function ready(file: string): Promise<void> {
  for (let i = 0; i < 2000 && !events(file).includes("READY"); i++) await sleep(10);
  assert.ok(events(file).includes("READY"), "the worker never got ready");
}

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
  const run = faulty("throw", ["--deadline", "1", "--grace", "3", "--", WORKER], {
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
  const run = faulty("reject", ["--deadline", "5", "--grace", "8", "--", WORKER], {
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
  const run = faulty("throw", ["--deadline", "1", "--grace", "3", "--", WORKER], {
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
  const run = faulty("throw", ["--", WORKER], {
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
  const run = faulty("throw", ["--deadline", "1", "--grace", "3", "--", WORKER], {
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

test("without a readable /proc jobguard refuses to start: one sentence, exit 2", async (t) => {
  if (!prerequisite(t, "JOBGUARD_REQUIRE_UNSHARE", unshareSkipReason())) return;
  const marker = join(tempDir(), "started");
  const run = runJobguard(
    ["--", "touch", marker],
    {},
    { wrapper: ["unshare", "-m", "sh", "-c", 'mount -t tmpfs none /proc && exec "$@"', "sh"] },
  );
  const exit = await run.exited;
  assert.equal(exit.code, 2);
  assert.equal(
    run.stderr(),
    "jobguard: cannot supervise here: there is no readable /proc (Linux procfs), where jobguard finds the worker tree\n",
  );
  assert.equal(existsSync(marker), false, "the worker was started");
});

test("a worker jobguard may not signal (EPERM) is not taken for dead: logged, a survivor, exit 125", async (t) => {
  if (!prerequisite(t, "JOBGUARD_REQUIRE_ROOT", rootSkipReason())) return;
  // jobguard runs as nobody; its worker makes itself root through a setuid copy of setpriv.
  const dir = tempDir();
  chmodSync(dir, 0o755);
  const asRoot = join(dir, "as-root");
  copyFileSync("/usr/bin/setpriv", asRoot);
  chmodSync(asRoot, 0o4755);
  const run = runJobguard(
    [
      "--deadline",
      "0.5",
      "--grace",
      "2",
      "--",
      asRoot,
      "--reuid=0",
      "--regid=0",
      "--clear-groups",
      "sleep",
      "1000",
    ],
    {},
    {
      wrapper: ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"],
    },
  );
  const child = Number(/child=(\d+)/.exec(await run.waitFor(/event=started/))![1]);
  // Until setpriv has made itself root, nobody may still signal it: wait for that.
  const isRoot = () => /^Uid:\t0\t0\t0\t0$/m.test(readFileSync(`/proc/${child}/status`, "utf8"));
  for (let i = 0; i < 500 && !isRoot(); i++) await sleep(10);
  assert.ok(isRoot(), "the worker did not become root");
  const stop = await dockerStop(run, 2000); // the platform's SIGKILL ends the root process afterwards
  const exit = await run.exited;
  assert.equal(exit.code, 125);
  assert.equal(stop.sigkilledJobguard, false);
  assert.match(
    run.stderr(),
    /event=signal_failed error="could not send SIGTERM to the worker" pid=\d+ code=EPERM/,
  );
  assert.match(run.stderr(), /event=signal signal=SIGTERM forwarded=false/);
  assert.match(
    run.stderr(),
    /event=signal_failed error="could not send SIGKILL to processes of the worker tree" pids=\d+:EPERM/,
  );
  assert.match(run.stderr(), /event=tree_survived /);
});

test("jobguard SIGKILLed alone: its watchdog stops the worker (one SIGTERM), then kills the whole tree at the deadline", async () => {
  const f = files();
  const run = runJobguard(["--deadline", "1", "--grace", "3", "--", WORKER], {
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
  const run = runJobguard(["--deadline", "1", "--grace", "3", "--", WORKER], {
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
  const run = runJobguard(["--deadline", "5", "--grace", "8", "--", WORKER], {
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
