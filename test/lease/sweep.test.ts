import assert from "node:assert/strict";
import { hostname } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { recommendedIndex } from "../../src/queues/delayed-job/sql.js";
import { withClient } from "../../tools/db.js";
import { descendantsOf, isAlive, parentOf } from "../../tools/processes.js";
import { fileDatabase, getJob, insertJob } from "../support/db.js";
import { dockerStop, killLeftovers, runJobguard, tempDir } from "../support/jobguard.js";
import { delayedJobLeases, FAST, HOUR_AGO, leaseTestDatabase, STALE_MS } from "../support/lease.js";
import { PG_WORKER, lockJobSql, workerReady } from "../support/pg-worker.js";
import { requireHostnames } from "../support/prerequisites.js";
import { tcpProxy } from "../support/proxy.js";
import { waitFor } from "../support/wait.js";

// The sweep (src/lease/sweep.ts) never takes a live worker's lock (rule 7):
// a reused host name and pid, an orphan that outlived its jobguard, a lease
// without a session tag, 20 sweeps at once, and every dyno cut off from the
// database. Run through delayed_job, the queue with the simplest rows.

after(killLeftovers);

const db = fileDatabase({ create: leaseTestDatabase });

const { newTable, env, dyno, rescue, deadLease, leaseShowsTag } = delayedJobLeases(db);

test("host-name and pid reuse: a live lease's lock under the same name is never released", async (t) => {
  if (!requireHostnames(t)) return;
  const table = await newTable();
  const events = join(tempDir(), "events");
  const mine = await insertJob(db.url, { table, handler: "x" });
  // A long job: its lock is an hour old, as old as the dead lease's heartbeat.
  const live = dyno("dyno-r", table, PG_WORKER, {
    EVENTS: events,
    LOCK_SQL: lockJobSql(table, mine, "1 hour"),
  });
  const { pid } = await workerReady(events);
  await waitFor(
    async () =>
      (await withClient(db.url, (c) => c.query(`SELECT 1 FROM leases_${table} WHERE $1 = ANY(pids)`, [pid])))
        .rowCount,
    { what: "the live lease" },
  );
  // Before a reboot, dyno-r ran a worker with the same pid, and one that is gone for good.
  const gone = await insertJob(db.url, {
    table,
    handler: "x",
    lockedBy: "host:dyno-r pid:999999",
    lockedAt: HOUR_AGO,
  });
  await deadLease(table, { id: "before-reboot", host: "dyno-r", pids: [pid, 999999] });

  // dyno-r's own sweep or this rescue, whichever comes first, judges the dead lease.
  assert.equal((await rescue(table)).code, 0);
  await waitFor(async () => (await getJob(db.url, gone, table))?.locked_by === null, {
    what: "the dead worker's lock to be released",
  });
  assert.equal(
    (await getJob(db.url, mine, table))?.locked_by,
    `host:dyno-r pid:${pid}`,
    `the live worker's lock was released; its jobguard's log:\n${live.stderr()}`,
  );
  const leases = await withClient(
    db.url,
    async (c) => (await c.query(`SELECT id FROM leases_${table} WHERE id = 'before-reboot'`)).rowCount,
  );
  assert.equal(leases, 0, "the dead lease was kept");
  await dockerStop(live, 3000);
  await live.exited;
});

test("jobguard and its watchdog killed but the worker lives on: the orphan keeps its lock until it dies too", async (t) => {
  if (!requireHostnames(t)) return;
  const table = await newTable();
  const events = join(tempDir(), "events");
  const id = await insertJob(db.url, { table, handler: "x" });
  const run = dyno("dyno-o", table, PG_WORKER, { EVENTS: events, LOCK_SQL: lockJobSql(table, id, "1 hour") });
  const { pid: worker } = await workerReady(events);
  await sleep(700); // a heartbeat with the worker's pid
  await leaseShowsTag(table, "dyno-o");
  // Its watchdog first (jobguard's other child), which would otherwise stop the worker.
  const watchdog = descendantsOf(run.pid).filter((pid) => parentOf(pid) === run.pid && pid !== worker);
  assert.equal(watchdog.length, 1);
  for (const pid of [...watchdog, run.pid]) process.kill(pid, "SIGKILL");
  await run.exited;
  await sleep(STALE_MS + 500);
  assert.ok(isAlive(worker), "the orphan worker died");

  const first = await rescue(table);
  assert.match(first.out, /0 dead lease\(s\) removed, 0 job\(s\) released/);
  assert.match(first.out, /stale but alive/);
  assert.equal((await getJob(db.url, id, table))?.locked_by, `host:dyno-o pid:${worker}`);

  process.kill(worker, "SIGKILL");
  await waitFor(() => !isAlive(worker), { what: "the orphan to die" });
  const second = await waitFor(
    async () => {
      const r = await rescue(table);
      return /1 job\(s\) released/.test(r.out) && r;
    },
    { timeoutMs: 5000, what: "the rescue after the orphan died" },
  );
  assert.match(second.out, /released: \d+/);
  assert.equal((await getJob(db.url, id, table))?.locked_by, null);
});

test("a lease without a session tag (the user's own PGAPPNAME) is rescued once stale: the fence, not a session, shows its tree gone", async () => {
  const table = await newTable();
  const id = await insertJob(db.url, {
    table,
    handler: "x",
    lockedBy: "host:dyno-u pid:77",
    lockedAt: HOUR_AGO,
  });
  await deadLease(table, { id: "untagged", host: "dyno-u", pids: [77], tag: null });
  const { out } = await rescue(table);
  assert.match(out, /1 dead lease\(s\) removed, 1 job\(s\) released/);
  assert.equal((await getJob(db.url, id, table))?.locked_by, null);
});

for (const index of [true, false])
  test(`two dead leases of one host name that list one pid (two pid namespaces): one sweep releases the job, counted once${index ? ", with the recommended index" : ""}`, async () => {
    const table = await newTable();
    if (index)
      await withClient(db.url, (c) => c.query(recommendedIndex([table]).replace(" CONCURRENTLY", "")));
    const twin = await insertJob(db.url, {
      table,
      handler: "x",
      lockedBy: "host:dyno-n pid:7",
      lockedAt: HOUR_AGO,
    });
    const other = await insertJob(db.url, {
      table,
      handler: "x",
      lockedBy: "host:dyno-o pid:9",
      lockedAt: HOUR_AGO,
    });
    await deadLease(table, { id: "ns-a", host: "dyno-n", pids: [7] });
    await deadLease(table, { id: "ns-b", host: "dyno-n", pids: [7, 8] }, false);
    await deadLease(table, { id: "elsewhere", host: "dyno-o", pids: [9] }, false);
    const { code, out } = await rescue(table);
    assert.equal(code, 0, out);
    assert.match(out, /3 dead lease\(s\) removed, 2 job\(s\) released/);
    assert.equal((await getJob(db.url, twin, table))?.locked_by, null);
    assert.equal((await getJob(db.url, other, table))?.locked_by, null);
    const counts = await withClient(
      db.url,
      async (c) =>
        (
          await c.query<{ rescues: number }>(
            `SELECT rescues FROM leases_${table}_rescues WHERE job_id = $1`,
            [twin],
          )
        ).rows,
    );
    assert.deepEqual(counts, [{ rescues: 1 }], "the job was counted other than once");
  });

test("20 jobguards sweeping at once release each lock exactly once", async () => {
  const table = await newTable();
  const ids: number[] = [];
  assert.equal((await rescue(table)).code, 0);
  for (let lease = 0; lease < 5; lease++) {
    const pids = [1000 + lease * 10, 1001 + lease * 10];
    for (const pid of pids) {
      for (let j = 0; j < 2; j++)
        ids.push(
          await insertJob(db.url, {
            table,
            handler: "x",
            lockedBy: `host:dyno-s${lease} pid:${pid}`,
            lockedAt: HOUR_AGO,
          }),
        );
    }
    await deadLease(table, { id: `stampede-${lease}`, host: `dyno-s${lease}`, pids }, false);
  }
  const results = await Promise.all(Array.from({ length: 20 }, () => rescue(table)));
  assert.ok(
    results.every((r) => r.code === 0),
    results.map((r) => r.out).join(""),
  );
  const released = results.flatMap(
    (r) => /released: ([\d,]+)/.exec(r.out)?.[1]?.split(",").map(Number) ?? [],
  );
  assert.deepEqual(
    released.sort((a, b) => a - b),
    ids,
  );
  const counts = await withClient(
    db.url,
    async (c) =>
      (
        await c.query<{ job_id: string; rescues: number }>(
          `SELECT job_id, rescues FROM leases_${table}_rescues`,
        )
      ).rows,
  );
  assert.equal(counts.length, 20);
  assert.ok(
    counts.every((r) => r.rescues === 1),
    "a job was counted twice",
  );
});

test("every dyno cut off for longer than stale-after: each stops its worker before its lease is stale, and a rescue then releases the jobs", async (t) => {
  const table = await newTable();
  const proxy = await tcpProxy(db.url);
  t.after(() => proxy.close());
  const dynos = await Promise.all(
    [1, 2].map(async () => {
      const id = await insertJob(db.url, { table, handler: "x" });
      const events = join(tempDir(), "events");
      const run = runJobguard([...FAST, "--", ...PG_WORKER], {
        ...env(table),
        DATABASE_URL: proxy.url,
        EVENTS: events,
        LOCK_SQL: lockJobSql(table, id, "1 hour"),
      });
      const { pid } = await workerReady(events);
      return { id, run, pid };
    }),
  );
  await waitFor(
    async () => (await withClient(db.url, (c) => c.query(`SELECT 1 FROM leases_${table}`))).rowCount === 2,
    { what: "both leases" },
  );
  const cutAt = Date.now();
  proxy.close();
  await Promise.all(dynos.map((d) => d.run.waitFor(/event=lease_lost/, STALE_MS)));
  // Each tree is gone, and each jobguard exits, before its lease may be judged stale.
  await Promise.all(dynos.map((d) => d.run.exited));
  assert.ok(Date.now() - cutAt < STALE_MS, `the dynos took ${Date.now() - cutAt} ms to stop`);
  for (const d of dynos) assert.ok(!isAlive(d.pid), "a worker outlived its fenced jobguard");
  for (const d of dynos) assert.notEqual((await getJob(db.url, d.id, table))?.locked_by, null);

  await sleep(Math.max(0, cutAt + STALE_MS + 500 - Date.now()));
  const { out } = await rescue(table);
  assert.match(out, /2 dead lease\(s\) removed, 2 job\(s\) released/);
  proxy.close();
});

test("an outage shorter than the fence costs nothing: the worker runs on, its lease is renewed, and its job stays its own", async (t) => {
  const table = await newTable();
  const proxy = await tcpProxy(db.url);
  t.after(() => proxy.close());
  const id = await insertJob(db.url, { table, handler: "x" });
  const events = join(tempDir(), "events");
  // Stale-after 12 s: a fence of 9 s from a renewal 2 s (the lag) before the latest, well beyond the outage and the heartbeat that notices it.
  const run = runJobguard([...FAST, "--stale-after", "12", "--", ...PG_WORKER], {
    ...env(table),
    JOBGUARD_DATABASE_URL: proxy.url,
    EVENTS: events,
    LOCK_SQL: lockJobSql(table, id, "1 hour"),
  });
  const { pid } = await workerReady(events);
  await leaseShowsTag(table, hostname());
  proxy.close();
  await run.waitFor(/event=heartbeat_failed/);
  await sleep(1000);
  await proxy.reopen();
  await run.waitFor(/event=heartbeat_resumed/, 5000);
  await sleep(12_000 + 1000);
  assert.equal((await rescue(table)).code, 0);
  assert.ok(isAlive(pid), "the worker was stopped");
  assert.doesNotMatch(run.stderr(), /lease_lost/);
  assert.equal((await getJob(db.url, id, table))?.locked_by, `host:${hostname()} pid:${pid}`);
  await dockerStop(run, 3000);
  await run.exited;
  proxy.close();
});
