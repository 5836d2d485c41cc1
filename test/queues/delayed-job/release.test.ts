import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { hostname } from "node:os";
import { after, test } from "node:test";
import { withClient } from "../../../tools/db.js";
import { fileDatabase, getJob, insertJob, newJobsTable } from "../../support/db.js";
import {
  createJobEventsTable,
  getJobEvents,
  requireDelayedJob,
  sleepJobHandler,
  WORKER_SCRIPT,
} from "../../support/delayed-job.js";
import { dockerStop, herokuRestart, killLeftovers, runJobguard, type Run } from "../../support/jobguard.js";
import { waitFor } from "../../support/wait.js";

// delayed_job's release (src/queues/delayed-job/) after jobguard killed the
// worker, with the real delayed_job worker: which locks go, and which never do.

after(killLeftovers);

const HOST = hostname();
const db = fileDatabase({ setup: createJobEventsTable });

/** jobguard in front of the real delayed_job worker, on this test's table. */
function guardDelayedJob(
  table: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
  command = ["ruby", WORKER_SCRIPT],
): Run {
  return runJobguard([...args, "--", ...command], {
    JOBGUARD_QUEUE: "delayed_job",
    JOBGUARD_TABLE: table,
    DATABASE_URL: db.url,
    DJ_TABLE: table,
    ...env,
  });
}

async function started(label: string, count = 1): Promise<number[]> {
  const events = await waitFor(
    async () => {
      const rows = (await getJobEvents(db.url, label)).filter((e) => e.event === "started");
      return rows.length >= count && rows;
    },
    { timeoutMs: 20_000, what: `job ${label} to start` },
  );
  return events.map((e) => e.pid);
}

/** Runs a fresh worker until the queue is empty; resolves with its exit code. */
function drainQueue(table: string): Promise<number | null> {
  const worker = spawn("ruby", [WORKER_SCRIPT], {
    env: { ...process.env, DATABASE_URL: db.url, DJ_TABLE: table, DJ_EXIT_WHEN_EMPTY: "1" },
    stdio: "ignore",
  });
  return new Promise((done) => worker.on("exit", (code) => done(code)));
}

test("overrun under a Heroku restart: the job is unlocked, attempts unchanged, and a fresh worker completes it", async (t) => {
  if (!requireDelayedJob(t)) return;
  const table = await newJobsTable(db.url);
  const id = await insertJob(db.url, { table, handler: sleepJobHandler(60, "overrun") });
  const run = guardDelayedJob(table, ["--deadline", "2", "--grace", "5"], { DYNO: "worker.1" });
  const [pid] = await started("overrun");
  const locked = await getJob(db.url, id, table);
  assert.equal(locked?.locked_by, `host:${HOST} pid:${pid}`);

  const stop = await herokuRestart(run, 5000, 2);
  const exit = await run.exited;
  assert.equal(exit.code, 124);
  assert.equal(stop.sigkilledJobguard, false, "jobguard outlived the grace period");
  assert.match(run.stderr(), new RegExp(`event=locks_released queue=delayed_job jobs=1 ids=${id} `));
  const released = await getJob(db.url, id, table);
  assert.equal(released?.locked_by, null);
  assert.equal(released?.locked_at, null);
  assert.equal(released?.attempts, 0);
  assert.equal(released?.failed_at, null);

  // The next worker takes it at once. A short sleep this time, so the test need not wait a minute.
  await withClient(db.url, (c) =>
    c.query(`UPDATE ${table} SET handler = $1 WHERE id = $2`, [sleepJobHandler(0.1, "overrun"), id]),
  );
  assert.equal(await drainQueue(table), 0);
  assert.equal(await getJob(db.url, id, table), undefined, "the job was not completed");
  const events = (await getJobEvents(db.url, "overrun")).map((e) => e.event);
  assert.deepEqual(events, ["started", "started", "finished"]);
});

test("a job that finishes within the deadline: nothing is released", async (t) => {
  if (!requireDelayedJob(t)) return;
  const table = await newJobsTable(db.url);
  const id = await insertJob(db.url, { table, handler: sleepJobHandler(1, "in-time") });
  const run = guardDelayedJob(table, ["--deadline", "8", "--grace", "10"]);
  await started("in-time");
  await dockerStop(run, 10_000);
  assert.equal((await run.exited).code, 0);
  assert.doesNotMatch(run.stderr(), /locks_released|deadline_exceeded/);
  assert.equal(await getJob(db.url, id, table), undefined);
  assert.deepEqual(
    (await getJobEvents(db.url, "in-time")).map((e) => e.event),
    ["started", "finished"],
  );
});

test("the worker as a grandchild, and two workers in one tree: every lock is released", async (t) => {
  if (!requireDelayedJob(t)) return;
  const table = await newJobsTable(db.url);
  const ids = [
    await insertJob(db.url, { table, handler: sleepJobHandler(60, "pair") }),
    await insertJob(db.url, { table, handler: sleepJobHandler(60, "pair") }),
  ];
  // sh -c with two commands stays in between, so both workers are grandchildren.
  const command = ["sh", "-c", `ruby ${WORKER_SCRIPT} & ruby ${WORKER_SCRIPT} & wait`];
  const run = guardDelayedJob(table, ["--deadline", "1", "--grace", "4"], { DYNO: "worker.1" }, command);
  const pids = await started("pair", 2);
  assert.equal(new Set(pids).size, 2, "both workers took a job");
  await herokuRestart(run, 4000);
  assert.equal((await run.exited).code, 124);
  for (const id of ids)
    assert.equal(
      (await getJob(db.url, id, table))?.locked_by,
      null,
      `job ${id} is still locked (workers ${pids.join(",")}):\n${run.stderr()}`,
    );
  assert.match(run.stderr(), /event=locks_released queue=delayed_job jobs=2 /);
});

test("locks of live workers are never touched: same pid on another host, a live process here, a longer pid, a longer host name", async (t) => {
  if (!requireDelayedJob(t)) return;
  const table = await newJobsTable(db.url);
  const mine = await insertJob(db.url, { table, handler: sleepJobHandler(60, "mine") });
  const run = guardDelayedJob(table, ["--deadline", "1", "--grace", "4"]);
  const [pid] = await started("mine");
  const prefixed = await insertJob(db.url, {
    table,
    handler: "x",
    lockedBy: `delayed_job.3 host:${HOST} pid:${pid}`,
  });
  const keep = {
    otherHost: await insertJob(db.url, { table, handler: "x", lockedBy: `host:other-${HOST} pid:${pid}` }),
    liveHere: await insertJob(db.url, { table, handler: "x", lockedBy: `host:${HOST} pid:${process.pid}` }),
    longerPid: await insertJob(db.url, { table, handler: "x", lockedBy: `host:${HOST} pid:${pid}7` }),
    suffixHost: await insertJob(db.url, { table, handler: "x", lockedBy: `host:x${HOST} pid:${pid}` }),
  };
  await dockerStop(run, 4000);
  assert.equal((await run.exited).code, 124);
  assert.equal((await getJob(db.url, mine, table))?.locked_by, null);
  assert.equal(
    (await getJob(db.url, prefixed, table))?.locked_by,
    null,
    "a name with a prefix was not released",
  );
  for (const [what, id] of Object.entries(keep)) {
    assert.notEqual((await getJob(db.url, id, table))?.locked_by, null, `the lock of ${what} was released`);
  }
});

test("the worker killed by SIGKILL on its own while jobguard runs: its locks are released", async (t) => {
  if (!requireDelayedJob(t)) return;
  const table = await newJobsTable(db.url);
  const id = await insertJob(db.url, { table, handler: sleepJobHandler(60, "oom") });
  const run = guardDelayedJob(table, []);
  const [pid] = await started("oom");
  process.kill(pid!, "SIGKILL"); // what the OOM killer does
  const exit = await run.exited;
  assert.equal(exit.code, 137);
  assert.equal((await getJob(db.url, id, table))?.locked_by, null);
  assert.match(run.stderr(), new RegExp(`event=locks_released queue=delayed_job jobs=1 ids=${id} `));
});

test("a pid that a newer process took: the dead worker's lock is released, one taken since is not", async () => {
  const table = await newJobsTable(db.url);
  const { delayedJob } = await import("../../../src/queues/delayed-job/index.js");
  const reusedSince = Date.now() - 60_000;
  const before = await insertJob(db.url, {
    table,
    handler: "x",
    lockedBy: "host:h pid:41",
    lockedAt: new Date(reusedSince - 5_000),
  });
  const since = await insertJob(db.url, {
    table,
    handler: "x",
    lockedBy: "host:h pid:42",
    lockedAt: new Date(reusedSince + 5_000),
  });
  const plain = await insertJob(db.url, {
    table,
    handler: "x",
    lockedBy: "host:h pid:43",
    lockedAt: new Date(),
  });
  const dead = [
    { pid: 41, startTime: 1, reusedSince },
    { pid: 42, startTime: 1, reusedSince },
    { pid: 43, startTime: 1 },
  ];
  const released = await withClient(db.url, (c) => delayedJob([table]).release(c, { host: "h", dead }));
  assert.deepEqual(released.ids.map(Number).sort(), [before, plain].sort());
  assert.equal((await getJob(db.url, since, table))?.locked_by, "host:h pid:42");
});

test("after a crash, counted: the same locks, each counted once, and a pid that a newer process took keeps the lock taken since", async () => {
  const table = await newJobsTable(db.url);
  const { delayedJob } = await import("../../../src/queues/delayed-job/index.js");
  const { ensureSchema, leaseTables } = await import("../../../src/lease/schema.js");
  const tables = leaseTables([`leases_${table}`]);
  await withClient(db.url, (c) => ensureSchema(c, tables));
  const reusedSince = Date.now() - 60_000;
  const lock = (lockedBy: string, lockedAt: Date) =>
    insertJob(db.url, { table, handler: "x", lockedBy, lockedAt });
  const before = await lock("delayed_job host:h pid:41", new Date(reusedSince - 5_000));
  const since = await lock("host:h pid:42", new Date(reusedSince + 5_000));
  const plain = await lock("host:h pid:43", new Date());
  const two = await lock("host:h pid:43", new Date());
  const otherHost = await lock("host:g pid:43", new Date());
  const dead = [
    { pid: 41, startTime: 1, reusedSince },
    { pid: 42, startTime: 1, reusedSince },
    { pid: 43, startTime: 1 },
  ];
  const released = await withClient(db.url, (c) =>
    delayedJob([table]).release(c, { host: "h", dead }, { countsTable: tables.rescues, maxRescues: 3 }),
  );
  assert.deepEqual(released.ids.map(Number).sort(), [before, plain, two].sort());
  assert.deepEqual(released.failed ?? [], []);
  assert.equal((await getJob(db.url, since, table))?.locked_by, "host:h pid:42");
  assert.equal((await getJob(db.url, otherHost, table))?.locked_by, "host:g pid:43");
  const counts = await withClient(
    db.url,
    async (c) =>
      (
        await c.query<{ job_id: string; rescues: number }>(
          `SELECT job_id, rescues FROM ${tables.rescues} ORDER BY job_id`,
        )
      ).rows,
  );
  assert.deepEqual(
    counts.map((r) => [Number(r.job_id), r.rescues]),
    [before, plain, two].sort((a, b) => a - b).map((id) => [id, 1]),
  );
});
