import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test, type TestContext } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { withClient } from "../../tools/db.js";
import { descendantsOf, isAlive } from "../../tools/processes.js";
import { freshDatabase, getJob, insertJob, newJobsTable, type FreshDatabase } from "../support/db.js";
import { dockerStop, killLeftovers, runCommand, runJobguard, tempDir } from "../support/jobguard.js";
import { FAST, STALE_MS } from "../support/lease.js";
import { PG_WORKER, lockJobSql, workerReady } from "../support/pg-worker.js";
import { pgbouncerSkipReason, startPgbouncer, type Pgbouncer } from "../support/pgbouncer.js";
import { prerequisite, requireHostnames } from "../support/prerequisites.js";
import { waitFor } from "../support/wait.js";

// jobguard and its worker with PgBouncer in transaction mode in between
// (docs/database.md): what works through it, and that what cannot work never
// releases a live worker's claim.
after(killLeftovers);

let db: FreshDatabase;
let bouncer: Pgbouncer;

before(async () => {
  if (pgbouncerSkipReason()) return;
  db = await freshDatabase();
  bouncer = await startPgbouncer(db.url, { poolSize: 2 });
});
after(async () => {
  await bouncer?.stop();
  await db?.drop();
});

function env(table: string, url: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    JOBGUARD_QUEUE: "delayed_job",
    JOBGUARD_TABLE: table,
    JOBGUARD_LEASE_TABLE: `leases_${table}`,
    JOBGUARD_DATABASE_URL: url,
    ...extra,
  };
}

/** `jobguard rescue` through PgBouncer. */
async function rescue(table: string): Promise<string> {
  const { code, out } = await runCommand([...FAST, "rescue"], env(table, bouncer.url));
  assert.equal(code, 0, out);
  return out;
}

/** Other clients through the pooler (an app that names its sessions), so that its server connections change hands and application_name. */
async function churn(pooler: Pgbouncer = bouncer): Promise<void> {
  const web = new URL(pooler.url);
  web.searchParams.set("application_name", "web");
  await Promise.all([1, 2, 3].map(() => withClient(web.toString(), (c) => c.query("SELECT pg_sleep(0.05)"))));
}

/** True when PgBouncer (and with `hostnames`, dynos of their own) can be had; else skips `t`, or fails it under the switches. */
function skipUnless(t: TestContext, hostnames = false): boolean {
  return (
    prerequisite(t, "JOBGUARD_REQUIRE_PGBOUNCER", pgbouncerSkipReason()) &&
    (!hostnames || requireHostnames(t))
  );
}

test("the release at the deadline through PgBouncer: the worker's lock (its connection pooled too) is released", async (t) => {
  if (!skipUnless(t)) return;
  const table = await newJobsTable(db.url);
  const id = await insertJob(db.url, { table, handler: "x" });
  const events = join(tempDir(), "events");
  const run = runJobguard(
    ["--deadline", "1", "--grace", "4", "--", ...PG_WORKER],
    env(table, bouncer.url, { DATABASE_URL: bouncer.url, EVENTS: events, LOCK_SQL: lockJobSql(table, id) }),
  );
  const { pid } = await workerReady(events);
  assert.equal((await getJob(db.url, id, table))?.locked_by?.endsWith(` pid:${pid}`), true);
  await dockerStop(run, 4000);
  assert.equal((await run.exited).code, 124, run.stderr());
  assert.match(run.stderr(), new RegExp(`event=locks_released queue=delayed_job jobs=1 ids=${id} `));
  assert.equal((await getJob(db.url, id, table))?.locked_by, null);
});

test("the sql queue through PgBouncer: the user's statement is prepared, run and dropped in one transaction", async (t) => {
  if (!skipUnless(t)) return;
  await withClient(db.url, (c) =>
    c.query("CREATE TABLE custom_jobs (id serial PRIMARY KEY, owner_name text)"),
  );
  await withClient(db.url, (c) =>
    c.query("INSERT INTO custom_jobs (owner_name) VALUES (NULL), ('elsewhere')"),
  );
  const sql = {
    JOBGUARD_QUEUE: "sql",
    JOBGUARD_RELEASE_SQL: "UPDATE custom_jobs SET owner_name = NULL WHERE owner_name = ANY($3) RETURNING id",
    JOBGUARD_DATABASE_URL: bouncer.url,
  };
  const check = runJobguard(["check"], sql);
  assert.equal((await check.exited).code, 0, check.stderr());
  const events = join(tempDir(), "events");
  const run = runJobguard(["--deadline", "1", "--grace", "4", "--", ...PG_WORKER], {
    ...sql,
    DATABASE_URL: bouncer.url,
    EVENTS: events,
    LOCK_SQL: "UPDATE custom_jobs SET owner_name = $1 WHERE id = 1",
  });
  await workerReady(events);
  const stopped = dockerStop(run, 4000);
  // jobguard checks the statement on the connection it opens at SIGTERM; then
  // another client holds that server connection (PgBouncer hands out the last
  // one used) in a transaction through the deadline, so the release runs on another.
  await sleep(400);
  await withClient(bouncer.url, async (c) => {
    await c.query("BEGIN");
    await sleep(1500);
    await c.query("COMMIT");
  });
  await stopped;
  assert.equal((await run.exited).code, 124, run.stderr());
  assert.match(run.stderr(), /event=locks_released queue=sql jobs=1 ids=1 /);
  const rows = await withClient(
    db.url,
    async (c) =>
      (await c.query<{ owner_name: string | null }>("SELECT owner_name FROM custom_jobs ORDER BY id")).rows,
  );
  assert.deepEqual(rows, [{ owner_name: null }, { owner_name: "elsewhere" }]);
});

test("the recommended setting: jobguard and its worker direct, check and rescue through PgBouncer; a dyno killed whole is rescued", async (t) => {
  if (!skipUnless(t, true)) return;
  const table = await newJobsTable(db.url);
  const id = await insertJob(db.url, { table, handler: "x" });
  const events = join(tempDir(), "events");
  const run = runJobguard(
    [...FAST, "--", ...PG_WORKER],
    env(table, db.url, { DATABASE_URL: db.url, EVENTS: events, LOCK_SQL: lockJobSql(table, id, "1 hour") }),
    { hostname: "dyno-direct" },
  );
  const { pid } = await workerReady(events);
  await sleep(1200); // heartbeats that see the worker's session
  const check = await runCommand(["check"], env(table, bouncer.url));
  assert.equal(check.code, 0);
  assert.match(check.out, new RegExp(`host:dyno-direct pid:${pid}: 1 job`));
  for (const p of [run.pid, ...descendantsOf(run.pid)]) process.kill(p, "SIGKILL");
  await run.exited;
  await waitFor(() => !isAlive(pid), { what: "the worker to die" });
  await sleep(STALE_MS + 300);
  const swept = await waitFor(
    async () => {
      const o = await rescue(table);
      return /1 job\(s\) released/.test(o) && o;
    },
    { timeoutMs: 8000, what: "the rescue through PgBouncer" },
  );
  assert.match(swept, new RegExp(`released: ${id}`));
  assert.equal((await getJob(db.url, id, table))?.locked_by, null);
  assert.doesNotMatch(run.stderr(), /rescue_unprovable/);
});

test("jobguard and its worker both through PgBouncer, jobguard SIGKILLed alone: a sweep through the pooler releases the job, never while its worker runs", async (t) => {
  if (!skipUnless(t, true)) return;
  const table = await newJobsTable(db.url);
  const id = await insertJob(db.url, { table, handler: "x" });
  const events = join(tempDir(), "events");
  const run = runJobguard(
    [...FAST, "--", ...PG_WORKER],
    env(table, bouncer.url, {
      DATABASE_URL: bouncer.url,
      EVENTS: events,
      LOCK_SQL: lockJobSql(table, id, "1 hour"),
    }),
    { hostname: "dyno-pooled" },
  );
  const { pid } = await workerReady(events);
  await sleep(1000); // heartbeats through the pooler
  run.child.kill("SIGKILL"); // its watchdog stops the worker
  await run.exited;
  // While the pool's server connections change hands, every rescue that
  // releases the job finds its worker gone.
  const out = await waitFor(
    async () => {
      await churn();
      const alive = isAlive(pid);
      const o = await rescue(table);
      if (!/1 job\(s\) released/.test(o)) return false;
      assert.ok(!alive, "the job was released while its worker ran");
      return o;
    },
    { timeoutMs: STALE_MS + 15_000, what: "the rescue through PgBouncer" },
  );
  assert.match(out, new RegExp(`released: ${id}`));
});
