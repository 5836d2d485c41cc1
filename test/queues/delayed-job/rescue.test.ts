import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { after, before, test, type TestContext } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { withClient } from "../../../tools/db.js";
import {
  createDelayedJobsTable,
  freshDatabase,
  getJob,
  insertJob,
  type FreshDatabase,
} from "../../support/db.js";
import {
  createJobEventsTable,
  getJobEvents,
  requireDelayedJob,
  sleepJobHandler,
  WORKER_SCRIPT,
} from "../../support/delayed-job.js";
import { waitFor } from "../../support/wait.js";
import { hostnameSkipReason } from "../../support/prerequisites.js";
import { dockerStop, fixture, runJobguard, tempDir, type Run, killLeftovers } from "../../support/jobguard.js";
import { descendantsOf, isAlive, parentOf } from "../../../tools/processes.js";
import { PG_WORKER, lockJobSql, workerReady } from "../../support/pg-worker.js";
import { prerequisite } from "../../support/prerequisites.js";
import { tcpProxy } from "../../support/proxy.js";

after(killLeftovers);

// Fast leases so that a dead dyno is found within seconds: heartbeat 0.5 s,
// stale after 2 s, a sweep every 0.5 s.
const FAST = ["--heartbeat", "0.5", "--stale-after", "2"];
const STALE_MS = 2000;
let db: FreshDatabase;
let tables = 0;

before(async () => {
  db = await freshDatabase();
  await createJobEventsTable(db.url);
  // No sweep runs on a server younger than stale-after, and the test run may have just started it.
  await waitFor(
    async () =>
      withClient(
        db.url,
        async (c) =>
          (
            await c.query(
              `SELECT pg_postmaster_start_time() < now() - interval '${STALE_MS} milliseconds' AS old`,
            )
          ).rows[0].old,
      ),
    { what: "the database server to be older than stale-after" },
  );
});
after(async () => db?.drop());

async function newTable(): Promise<string> {
  const table = `jobs_${++tables}`;
  await createDelayedJobsTable(db.url, table);
  return table;
}

function env(table: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    JOBGUARD_QUEUE: "delayed_job",
    JOBGUARD_TABLE: table,
    JOBGUARD_LEASE_TABLE: `leases_${table}`,
    DATABASE_URL: db.url,
    DJ_TABLE: table,
    ...extra,
  };
}

/** A dyno of its own: jobguard under its own host name. */
function dyno(name: string, table: string, command: string[], extra: NodeJS.ProcessEnv = {}): Run {
  return runJobguard([...FAST, "--", ...command], env(table, extra), { hostname: name });
}

/**
 * A live dyno that has reached the database without a break for an hour: a
 * sweep judges others only with such a witness (see lease/sweep.ts). Once
 * jobguard has created its tables.
 */
async function witness(table: string): Promise<void> {
  await withClient(db.url, (c) =>
    c.query(
      // Its heartbeat stays fresh however long 20 jobguards take to start on a loaded machine.
      `INSERT INTO leases_${table} (id, host, pids, session_tag, heartbeat_at, reachable_since)
       VALUES ('witness', 'dyno-w', '{}', 'jobguard-witness', now() + interval '1 hour', now() - interval '1 hour')
       ON CONFLICT (id) DO NOTHING`,
    ),
  ).catch(() => {}); // no tables yet: the first rescue creates them
}

/** Runs `jobguard rescue` once, with a witness; resolves with its exit code and output. */
async function rescue(
  table: string,
  extra: string[] = [],
  withWitness = true,
): Promise<{ code: number | null; out: string }> {
  if (withWitness) await witness(table);
  const run = runJobguard([...FAST, ...extra, "rescue"], env(table));
  let out = "";
  run.child.stdout!.on("data", (chunk) => (out += chunk));
  const { code } = await run.exited;
  return { code, out };
}

/** A lease as a dyno that died an hour ago would have left it. */
async function deadLease(
  table: string,
  lease: { id: string; host: string; pids: number[]; tag?: string | null },
  createTables = true,
): Promise<void> {
  // Let jobguard create its tables first, as the first jobguard of a fleet would.
  if (createTables) assert.equal((await rescue(table)).code, 0);
  await withClient(db.url, (c) =>
    c.query(
      `INSERT INTO leases_${table} (id, host, pids, session_tag, started_at, heartbeat_at)
       VALUES ($1, $2, $3, $4, now() - interval '2 hours', now() - interval '1 hour')`,
      [lease.id, lease.host, lease.pids, lease.tag === undefined ? `jobguard-${lease.id}` : lease.tag],
    ),
  );
}

/** Waits until the host's lease shows its session tag: once a heartbeat has seen the worker's sessions (lease/leases.ts). */
async function leaseShowsTag(table: string, host: string): Promise<void> {
  await waitFor(
    () =>
      withClient(
        db.url,
        async (c) =>
          (await c.query(`SELECT 1 FROM leases_${table} WHERE host = $1 AND session_tag IS NOT NULL`, [host]))
            .rowCount,
      ),
    { what: `${host}'s lease to show its session tag` },
  );
}

const HOUR_AGO = new Date(Date.now() - 3600_000);

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

function skipWithoutHostnames(t: TestContext): boolean {
  return prerequisite(t, "JOBGUARD_REQUIRE_UNSHARE", hostnameSkipReason());
}

test("a whole dyno SIGKILLed mid-job: another dyno releases its job within stale-after plus a sweep, and a real worker completes it", async (t) => {
  if (!requireDelayedJob(t) || !skipWithoutHostnames(t)) return;
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

test("host-name and pid reuse: a live lease's lock under the same name is never released", async (t) => {
  if (!skipWithoutHostnames(t)) return;
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
    "the live worker's lock was released",
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
  if (!skipWithoutHostnames(t)) return;
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

test("the lease forgets children that died without a lock, keeps one that died holding a lock, and the release frees its job", async () => {
  const table = await newTable();
  const dir = tempDir();
  const [events, pids] = [join(dir, "events"), join(dir, "pids")];
  const id = await insertJob(db.url, { table, handler: "x" });
  // A child that takes a lock and dies with it, then children that shell out
  // and die, each alive long enough for the 2 s scan of the tree to see it.
  const worker = `${PG_WORKER.join(" ")}
    for i in 1 2 3; do sleep 2.5 & echo $! >> ${pids}; wait; done
    echo DONE >> ${events}; trap "" TERM; exec sleep 600`;
  const run = runJobguard(
    [...FAST, "--deadline", "1", "--grace", "4", "--", "sh", "-c", worker],
    env(table, {
      EVENTS: events,
      LOCK_SQL: lockJobSql(table, id),
      EXIT_AFTER_MS: "2500",
    }),
  );
  const { pid: locker } = await workerReady(events);
  const leasePids = async () =>
    ((await withClient(db.url, (c) => c.query(`SELECT pids FROM leases_${table}`))).rows[0]?.pids ??
      []) as number[];
  const everSeen = new Set<number>();
  await waitFor(
    async () => {
      for (const pid of await leasePids()) everSeen.add(pid);
      return readFileSync(events, "utf8").includes("DONE");
    },
    { timeoutMs: 20_000, what: "the worker to be done shelling out" },
  );
  const children = readFileSync(pids, "utf8").split("\n").filter(Boolean).map(Number);
  assert.ok(
    children.some((pid) => everSeen.has(pid)),
    "the lease never listed a child: the test proves nothing",
  );
  const lease = await waitFor(
    async () => {
      const now = await leasePids();
      return children.every((pid) => !now.includes(pid)) && now;
    },
    { timeoutMs: 5000, what: "the dead children to leave the lease" },
  );
  assert.ok(lease.includes(locker), `the dead worker holding a lock left the lease: ${lease}`);

  await dockerStop(run, 4000);
  assert.equal((await run.exited).code, 124);
  assert.match(run.stderr(), new RegExp(`event=locks_released queue=delayed_job jobs=1 ids=${id} `));
  assert.equal((await getJob(db.url, id, table))?.locked_by, null);
});

test("a lock taken after the lease's last heartbeat waits until it is stale itself", async () => {
  const table = await newTable();
  const old = await insertJob(db.url, {
    table,
    handler: "x",
    lockedBy: "host:dyno-l pid:4242",
    lockedAt: HOUR_AGO,
  });
  await deadLease(table, { id: "late-lock", host: "dyno-l", pids: [4242] });
  // Taken just before the rescue, with a stale-after longer than a jobguard run
  // takes on a loaded machine: the fresh lock must still be fresh when the sweep looks.
  const fresh = await insertJob(db.url, { table, handler: "x", lockedBy: "host:dyno-l pid:4242" });
  const { out } = await rescue(table, ["--stale-after", "30"]);
  assert.match(out, /0 dead lease\(s\) removed, 1 job\(s\) released/);
  assert.notEqual(
    (await getJob(db.url, fresh, table))?.locked_by,
    null,
    "a lock newer than stale-after was released",
  );
  assert.equal((await getJob(db.url, old, table))?.locked_by, null);
  const leases = await withClient(
    db.url,
    async (c) => (await c.query(`SELECT id FROM leases_${table} WHERE id <> 'witness'`)).rows,
  );
  assert.deepEqual(leases, [{ id: "late-lock" }], "the lease went before all its locks could be rescued");
});

test("a lease without a session tag (the user's own PGAPPNAME) is never rescued", async () => {
  const table = await newTable();
  const id = await insertJob(db.url, {
    table,
    handler: "x",
    lockedBy: "host:dyno-u pid:77",
    lockedAt: HOUR_AGO,
  });
  await deadLease(table, { id: "untagged", host: "dyno-u", pids: [77], tag: null });
  const { out } = await rescue(table);
  assert.match(out, /stale, left alone .*: untagged/);
  assert.notEqual((await getJob(db.url, id, table))?.locked_by, null);
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
    async (c) => (await c.query(`SELECT job_id, rescues FROM leases_${table}_rescues`)).rows,
  );
  assert.equal(counts.length, 20);
  assert.ok(
    counts.every((r) => r.rescues === 1),
    "a job was counted twice",
  );
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
        c.query(`SELECT rescues FROM leases_${table}_rescues WHERE job_id = $1`, [id]),
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
    [...FAST, "--deadline", "0.5", "--grace", "3", "--", ...PG_WORKER],
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
    async (c) => (await c.query(`SELECT count(*)::int AS n FROM leases_${table}_rescues`)).rows[0].n,
  );
  assert.equal(counted, 0, "a restart was counted as a crash");
});

test("the database down during heartbeats: the worker runs on, and heartbeats resume", async () => {
  const table = await newTable();
  const proxy = await tcpProxy(db.url);
  const events = join(tempDir(), "events");
  const run = runJobguard([...FAST, "--", fixture("worker.sh")], {
    ...env(table),
    JOBGUARD_DATABASE_URL: proxy.url,
    EVENTS: events,
  });
  const heartbeatAt = async () =>
    withClient(
      db.url,
      async (c) =>
        (await c.query(`SELECT max(heartbeat_at) AS at FROM leases_${table}`)).rows[0]?.at as Date | null,
    );
  await waitFor(heartbeatAt, { what: "the first heartbeat" });
  proxy.close();
  await run.waitFor(/event=heartbeat_failed error="heartbeat failed, the worker runs on: /);
  const during = await heartbeatAt();
  await sleep(1500);
  assert.ok(isAlive(run.pid) && readFileSync(events, "utf8").includes("READY"));
  assert.doesNotMatch(readFileSync(events, "utf8"), /TERM/, "the worker was told to stop");
  await proxy.reopen();
  await run.waitFor(/event=heartbeat_resumed/, 5000);
  assert.ok((await heartbeatAt())! > during!, "no heartbeat after the database came back");
  assert.ok(!run.stderr().includes(proxy.password), "the password was logged");
  await dockerStop(run, 3000);
  assert.equal((await run.exited).code, 0);
  proxy.close();
});

test("every dyno cut off for longer than stale-after: no rescue, during the cut or after it, releases a live worker's lock", async () => {
  const table = await newTable();
  const proxy = await tcpProxy(db.url);
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
      return { id, run, name: `host:${hostname()} pid:${pid}` };
    }),
  );
  await waitFor(
    async () => (await withClient(db.url, (c) => c.query(`SELECT 1 FROM leases_${table}`))).rowCount === 2,
    { what: "both leases" },
  );
  const lockedAsBefore = async (when: string) => {
    for (const d of dynos)
      assert.equal(
        (await getJob(db.url, d.id, table))?.locked_by,
        d.name,
        `${when}: a live worker's lock was released`,
      );
  };

  // The outage: every dyno loses the database, and with it every session of its worker.
  proxy.close();
  await Promise.all(dynos.map((d) => d.run.waitFor(/event=heartbeat_failed/)));
  await sleep(STALE_MS + 1000);
  const during = await rescue(table, [], false);
  assert.match(during.out, /nothing done: no jobguard has reached the database without a break/);
  await lockedAsBefore("during the outage");

  await proxy.reopen();
  const after = await rescue(table, [], false);
  assert.doesNotMatch(after.out, /released: /);
  await lockedAsBefore("right after the outage");
  await Promise.all(dynos.map((d) => d.run.waitFor(/event=heartbeat_resumed/, 5000)));
  await sleep(STALE_MS + 1000); // the dynos' own sweeps have had their turn too
  assert.match((await rescue(table, [], false)).out, /0 dead lease\(s\) removed, 0 job\(s\) released/);
  await lockedAsBefore("once the dynos are back");
  for (const d of dynos) await dockerStop(d.run, 3000);
  await Promise.all(dynos.map((d) => d.run.exited));
  proxy.close();
});

test("right after a database outage a jobguard judges no other dyno until it has reached the database for stale-after", async () => {
  const table = await newTable();
  const proxy = await tcpProxy(db.url);
  const run = runJobguard([...FAST, "--log-level", "debug", "--", fixture("worker.sh")], {
    ...env(table),
    JOBGUARD_DATABASE_URL: proxy.url,
  });
  await run.waitFor(/event=swept swept=true/, 10_000); // reachable for stale-after: it sweeps
  proxy.close();
  await run.waitFor(/event=heartbeat_failed/);
  // While the database is unreachable for this dyno, another dyno dies.
  const id = await insertJob(db.url, {
    table,
    handler: "x",
    lockedBy: "host:dyno-x pid:31",
    lockedAt: HOUR_AGO,
  });
  await deadLease(table, { id: "during-outage", host: "dyno-x", pids: [31] }, false);
  await proxy.reopen();
  await run.waitFor(/event=heartbeat_resumed/, 5000);
  const resumedAt = Date.now();
  await sleep(STALE_MS / 2);
  assert.notEqual(
    (await getJob(db.url, id, table))?.locked_by,
    null,
    "swept before its heartbeats had been back for stale-after",
  );
  await run.waitFor(new RegExp(`event=swept swept=true released=${id} `), 5000);
  assert.ok(Date.now() - resumedAt >= STALE_MS - 100);
  await dockerStop(run, 3000);
  assert.equal((await run.exited).code, 0);
  proxy.close();
});
