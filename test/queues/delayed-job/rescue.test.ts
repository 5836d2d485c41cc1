import assert from "node:assert/strict";
import { join } from "node:path";
import { after, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type pg from "pg";
import type { RescueConfig } from "../../../src/config/config.js";
import { REPLICATION_LAG_MS } from "../../../src/config/rescue.js";
import { leaseTables } from "../../../src/lease/schema.js";
import { sweep } from "../../../src/lease/sweep.js";
import { recommendedIndex } from "../../../src/queues/delayed-job/sql.js";
import { delayedJob } from "../../../src/queues/delayed-job/index.js";
import { withClient } from "../../../tools/db.js";
import { descendantsOf } from "../../../tools/processes.js";
import { fileDatabase, getJob, insertJob } from "../../support/db.js";
import {
  createJobEventsTable,
  getJobEvents,
  requireDelayedJob,
  sleepJobHandler,
  WORKER_SCRIPT,
} from "../../support/delayed-job.js";
import { dockerStop, killLeftovers, runJobguard, tempDir } from "../../support/jobguard.js";
import {
  delayedJobLeases,
  FAST,
  fastLeases,
  HOUR_AGO,
  leaseTestDatabase,
  STALE_MS,
} from "../../support/lease.js";
import { PG_WORKER, lockJobSql, workerReady } from "../../support/pg-worker.js";
import { requireHostnames } from "../../support/prerequisites.js";
import { waitFor } from "../../support/wait.js";

// delayed_job's rescue: a dyno that died whole, found by another's sweep and
// run again by a real delayed_job worker; the rescues counted per job, and the
// poison job failed after max-rescues. The sweep's rules for any queue are in
// test/lease/sweep.test.ts.

after(killLeftovers);

const db = fileDatabase({ create: leaseTestDatabase, setup: createJobEventsTable });

const { newTable, env, dyno, rescue, deadLease, leaseShowsTag } = delayedJobLeases(db);

/** The job is out of the queue for good: unlocked, failed, with a last_error that says jobguard did it and why. */
async function assertFailedByJobguard(table: string, id: number, maxRescues: number): Promise<void> {
  const job = await getJob(db.url, id, table);
  assert.equal(job?.locked_by, null);
  assert.notEqual(job?.failed_at, null);
  assert.match(
    job?.last_error ?? "",
    new RegExp(`^jobguard: rescued from dead workers more than ${maxRescues} times`),
  );
}

test("a whole dyno SIGKILLed mid-job: another dyno releases its job within stale-after plus a sweep, and a real worker completes it", async (t) => {
  if (!requireDelayedJob(t) || !requireHostnames(t)) return;
  const table = await newTable();
  const id = await insertJob(db.url, { table, handler: sleepJobHandler(60, "crash") });
  const a = dyno("dyno-a", table, ["ruby", WORKER_SCRIPT]);
  const [pidA] = (
    await waitFor(
      async () =>
        (await getJobEvents(db.url, "crash")).filter((e) => e.event === "started").length > 0 &&
        (await getJobEvents(db.url, "crash")),
      { timeoutMs: 20_000, what: "the job to start" },
    )
  ).map((e) => e.pid);
  assert.equal((await getJob(db.url, id, table))?.locked_by, `host:dyno-a pid:${pidA}`);
  await leaseShowsTag(table, "dyno-a");

  // R15: every process of the dyno dies at once, jobguard included.
  const dynoA = [a.pid, ...descendantsOf(a.pid)];
  for (const pid of dynoA) process.kill(pid, "SIGKILL");
  const crashedAt = Date.now();
  await a.exited;
  // The next run should not take a minute: the test swaps in a short job.
  await withClient(db.url, (c) =>
    c.query(`UPDATE ${table} SET handler = $1 WHERE id = $2`, [sleepJobHandler(0.1, "crash"), id]),
  );

  const b = dyno("dyno-b", table, ["ruby", WORKER_SCRIPT]);
  const line = await b.waitFor(new RegExp(`event=swept swept=true released=${id} `), 15_000);
  const rescuedAfter = Date.now() - crashedAt;
  assert.ok(rescuedAfter < STALE_MS + 4000, `rescued ${rescuedAfter} ms after the crash: ${line}`);
  await waitFor(async () => (await getJob(db.url, id, table)) === undefined, {
    timeoutMs: 15_000,
    what: "dyno-b's worker to complete the job",
  });
  const events = await getJobEvents(db.url, "crash");
  assert.deepEqual(
    events.map((e) => e.event),
    ["started", "started", "finished"],
  );
  assert.notEqual(events[1]!.pid, pidA);
  await dockerStop(b, 10_000);
  assert.equal((await b.exited).code, 0);
});

test("a lock taken after the lease's last heartbeat waits until it is stale itself", async () => {
  const table = await newTable();
  const old = await insertJob(db.url, {
    table,
    handler: "x",
    lockedBy: "host:dyno-l pid:4242",
    lockedAt: HOUR_AGO,
  });
  // The lease's own stale-after, by which the sweep judges it, is longer than
  // a jobguard run takes on a loaded machine: the fresh lock must still be fresh when the sweep looks.
  await deadLease(table, { id: "late-lock", host: "dyno-l", pids: [4242], staleAfterMs: 30_000 });
  const fresh = await insertJob(db.url, { table, handler: "x", lockedBy: "host:dyno-l pid:4242" });
  const { out } = await rescue(table);
  assert.match(out, /0 dead lease\(s\) removed, 1 job\(s\) released/);
  assert.notEqual(
    (await getJob(db.url, fresh, table))?.locked_by,
    null,
    "a lock newer than stale-after was released",
  );
  assert.equal((await getJob(db.url, old, table))?.locked_by, null);
  const leases = await withClient(
    db.url,
    async (c) => (await c.query<{ id: string }>(`SELECT id FROM leases_${table}`)).rows,
  );
  assert.deepEqual(leases, [{ id: "late-lock" }], "the lease went before all its locks could be rescued");
});

test("a sweep seeks each dead worker's name in the recommended index, with JIT off, and releases only its locks", async () => {
  const table = await newTable();
  // Enough locked rows of live workers that a read of them all would cost more than a seek a name.
  await withClient(db.url, async (c) => {
    await c.query(
      `INSERT INTO ${table} (priority, handler, run_at, locked_at, locked_by, created_at, updated_at)
       SELECT 0, 'x', now() AT TIME ZONE 'UTC',
              CASE WHEN g % 10 = 0 THEN (now() AT TIME ZONE 'UTC') - interval '1 hour' END,
              CASE WHEN g % 10 = 0 THEN format('delayed_job host:live-%s pid:%s', g % 97, g % 7) END,
              now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
         FROM generate_series(1, 20000) g`,
    );
    await c.query(recommendedIndex([table]).replace(" CONCURRENTLY", ""));
    await c.query(`ANALYZE ${table}`);
  });
  const held = [
    await insertJob(db.url, { table, handler: "x", lockedBy: "host:dyno-s pid:41", lockedAt: HOUR_AGO }),
    await insertJob(db.url, { table, handler: "x", lockedBy: "host:dyno-s pid:43", lockedAt: HOUR_AGO }),
  ];
  const other = await insertJob(db.url, {
    table,
    handler: "x",
    lockedBy: "host:dyno-s pid:4",
    lockedAt: HOUR_AGO,
  });
  await deadLease(table, { id: "seek", host: "dyno-s", pids: [41, 42, 43] });

  const tables = leaseTables([`leases_${table}`]);
  const config: RescueConfig = {
    heartbeatMs: 500,
    staleAfterMs: STALE_MS,
    fenceMs: STALE_MS - 3000,
    replicationLagMs: REPLICATION_LAG_MS,
    maxRescues: 3,
    leaseTable: [`leases_${table}`],
    connection: "keep",
  };
  const seen: { jit?: string | null; plan?: string } = {};
  const result = await withClient(db.url, async (c) => {
    // The sweep's own client, which looks at the rescue statement as it passes.
    const looking = {
      query: async (text: string, values?: unknown[]) => {
        if (/dead_claims AS/.test(text)) {
          seen.jit = (
            await c.query<{ jit: string | null }>("SELECT current_setting('jit', true) AS jit")
          ).rows[0]!.jit;
          seen.plan = JSON.stringify((await c.query(`EXPLAIN (FORMAT JSON) ${text}`, values)).rows[0]);
        }
        return c.query(text, values);
      },
    } as unknown as pg.Client;
    return sweep(looking, delayedJob([table]).rescue!, tables, config);
  });

  assert.deepEqual(result.leases, ["seek"]);
  assert.deepEqual(
    [...result.released].map(Number).sort((a, b) => a - b),
    held,
  );
  assert.notEqual((await getJob(db.url, other, table))?.locked_by, null, "another pid's lock was released");
  if (seen.jit !== null) assert.equal(seen.jit, "off", "the rescue ran with JIT on");
  const plan = JSON.parse(seen.plan ?? "{}") as unknown;
  const scans: { name: string; cond?: string }[] = [];
  const walk = (node: unknown): void => {
    if (!node || typeof node !== "object") return;
    const n = node as Record<string, unknown>;
    if (n["Index Name"] === `${table}_jobguard_worker`)
      scans.push({ name: String(n["Index Name"]), cond: n["Index Cond"] as string | undefined });
    for (const value of Object.values(n)) walk(value);
  };
  walk(plan);
  assert.ok(scans.length > 0, `the rescue did not use the recommended index: ${seen.plan}`);
  for (const scan of scans)
    assert.match(scan.cond ?? "", /= dead\.name/, `the rescue read the whole index: ${seen.plan}`);
});

test("a poison job that keeps killing its dyno is marked failed after max-rescues", async () => {
  const table = await newTable();
  const id = await insertJob(db.url, { table, handler: "x" });
  for (let crash = 1; crash <= 4; crash++) {
    await withClient(db.url, (c) =>
      c.query(`UPDATE ${table} SET locked_by = $1, locked_at = $2 WHERE id = $3`, [
        `host:dyno-p${crash} pid:5`,
        HOUR_AGO,
        id,
      ]),
    );
    await deadLease(table, { id: `poison-${crash}`, host: `dyno-p${crash}`, pids: [5] });
    const { out } = await rescue(table, ["--max-rescues", "3"]);
    if (crash <= 3) assert.match(out, new RegExp(`released: ${id}`), `crash ${crash}`);
    else assert.match(out, new RegExp(`failed \\(rescued more than 3 times\\): ${id}`));
  }
  await assertFailedByJobguard(table, id, 3);
});

test("a worker the OOM killer takes while jobguard lives: its job is back at once, counted, and failed after max-rescues", async () => {
  const table = await newTable();
  const id = await insertJob(db.url, { table, handler: "x" });
  const rescues = async () =>
    (
      await withClient(db.url, (c) =>
        c.query<{ rescues: number }>(`SELECT rescues FROM leases_${table}_rescues WHERE job_id = $1`, [id]),
      )
    ).rows[0]?.rescues;
  const crash = async () => {
    const events = join(tempDir(), "events");
    const run = runJobguard(
      [...FAST, "--max-rescues", "1", "--", ...PG_WORKER],
      env(table, { EVENTS: events, LOCK_SQL: lockJobSql(table, id) }),
    );
    process.kill((await workerReady(events)).pid, "SIGKILL");
    assert.equal((await run.exited).code, 137);
    return run.stderr();
  };

  // A kill at the deadline of a normal restart is no crash and is not counted.
  const events = join(tempDir(), "events");
  const restart = runJobguard(
    ["--deadline", "0.5", ...fastLeases(3), "--", ...PG_WORKER],
    env(table, { EVENTS: events, LOCK_SQL: lockJobSql(table, id) }),
  );
  await workerReady(events);
  await dockerStop(restart, 3000);
  assert.equal((await restart.exited).code, 124);
  assert.match(restart.stderr(), new RegExp(`event=locks_released queue=delayed_job jobs=1 ids=${id} pids=`));
  assert.equal(await rescues(), undefined);

  assert.match(
    await crash(),
    new RegExp(`event=locks_released queue=delayed_job jobs=1 ids=${id} rescue_counted=true pids=`),
  );
  assert.equal(await rescues(), 1);
  assert.equal((await getJob(db.url, id, table))?.locked_by, null);

  assert.match(
    await crash(),
    new RegExp(`event=locks_released queue=delayed_job jobs=0 ids="" rescue_counted=true failed=${id} `),
  );
  await assertFailedByJobguard(table, id, 1);
});

test("Heroku signals the worker a moment before jobguard: a worker that dies of it, or exits 1, is no crash", async () => {
  const table = await newTable();
  const id = await insertJob(db.url, { table, handler: "x" });
  for (const onTerm of ["die", "exit1"]) {
    const events = join(tempDir(), "events");
    const run = runJobguard(
      [...FAST, "--", ...PG_WORKER],
      env(table, { DYNO: "worker.1", EVENTS: events, LOCK_SQL: lockJobSql(table, id), ON_TERM: onTerm }),
    );
    const { pid } = await workerReady(events);
    // The dyno manager's SIGTERM reaches every process; here the worker's comes first.
    process.kill(pid, "SIGTERM");
    await sleep(100);
    run.child.kill("SIGTERM");
    assert.equal((await run.exited).code, onTerm === "die" ? 143 : 1, run.stderr());
    assert.match(
      run.stderr(),
      new RegExp(`event=locks_released queue=delayed_job jobs=1 ids=${id} pids=`),
      onTerm,
    );
  }
  const counted = await withClient(
    db.url,
    async (c) =>
      (await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM leases_${table}_rescues`)).rows[0]!.n,
  );
  assert.equal(counted, 0, "a restart was counted as a crash");
});
