import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { withClient } from "../../../tools/db.js";
import { freshDatabase, type FreshDatabase } from "../../support/db.js";
import { waitFor } from "../../support/wait.js";
import { dockerStop, fixture, killLeftovers, OWNED, runJobguard, tempDir } from "../../support/jobguard.js";

// Queues whose job locks are advisory locks of the worker's session (GoodJob's
// default strategy, Que): the lock ends with the session. A worker killed in
// the middle of a long query keeps its session, and the lock, until the query
// ends; jobguard ends the session at the kill.

after(killLeftovers);
let db: FreshDatabase;
before(async () => {
  db = await freshDatabase();
});
after(async () => db?.drop());

const WORKER = ["node", fixture("advisory-worker.mjs")];
let keys = 7000;

/** Waits for the worker's READY line: its pid and its backend's. */
async function ready(events: string): Promise<{ pid: number; backend: number }> {
  const line = await waitFor(() => existsSync(events) && readFileSync(events, "utf8").trim(), {
    what: "the worker to hold its lock",
  });
  const [, pid, backend] = line.split(" ").map(Number);
  return { pid: pid!, backend: backend! };
}

/** True when another session can take the advisory lock now (and gives it back at once). */
async function lockIsFree(key: number): Promise<boolean> {
  return withClient(db.url, async (c) => {
    const free = (await c.query("SELECT pg_try_advisory_lock($1) AS free", [key])).rows[0].free as boolean;
    if (free) await c.query("SELECT pg_advisory_unlock($1)", [key]);
    return free;
  });
}

test("without jobguard: a worker SIGKILLed in a long query keeps its advisory lock", async () => {
  const key = ++keys;
  const events = join(tempDir(), "events");
  const worker = spawn(WORKER[0]!, WORKER.slice(1), {
    env: { ...process.env, ...OWNED, DATABASE_URL: db.url, LOCK_KEY: String(key), EVENTS: events },
    stdio: "ignore",
  });
  const { backend } = await ready(events);
  worker.kill("SIGKILL");
  await sleep(1000);
  assert.equal(await lockIsFree(key), false, "the lock ended with the worker: this test proves nothing");
  await withClient(db.url, (c) => c.query("SELECT pg_terminate_backend($1)", [backend]));
});

test("GoodJob: jobguard ends the killed worker's tagged session, and its advisory lock with it", async () => {
  const key = ++keys;
  const events = join(tempDir(), "events");
  const run = runJobguard(["--deadline", "1", "--grace", "4", "--", ...WORKER], {
    JOBGUARD_QUEUE: "good_job",
    DATABASE_URL: db.url,
    LOCK_KEY: String(key),
    EVENTS: events,
  });
  const { backend } = await ready(events);
  assert.equal(await lockIsFree(key), false);
  await dockerStop(run, 4000);
  assert.equal((await run.exited).code, 124);
  assert.match(
    run.stderr(),
    new RegExp(
      `event=sessions_terminated tag=jobguard-[0-9a-f]{16} sessions=1 backends=${backend}:active advisory_locks=1`,
    ),
  );
  await waitFor(() => lockIsFree(key), { timeoutMs: 3000, what: "the advisory lock to be free" });
});

test("Que: jobguard finds the locker's session through que_lockers, ends it, and leaves other lockers alone", async () => {
  const key = ++keys;
  const otherKey = ++keys;
  await withClient(db.url, (c) =>
    // Que 2.x's que_lockers, as its migrations create it (the columns the locker writes).
    c.query(`CREATE UNLOGGED TABLE que_lockers (
      pid integer NOT NULL PRIMARY KEY, worker_count integer NOT NULL, worker_priorities integer[] NOT NULL,
      ruby_pid integer NOT NULL, ruby_hostname text NOT NULL, queues text[] NOT NULL, listening boolean NOT NULL,
      job_schema_version integer DEFAULT 1)`),
  );
  // Another dyno's locker, alive: same table, another host, its own lock.
  const other = new pg.Client({ connectionString: db.url });
  await other.connect();
  const otherBackend = (await other.query("SELECT pg_backend_pid() AS b")).rows[0].b as number;
  await other.query("SELECT set_config('application_name', $1, false)", [`Que Locker: ${otherBackend}`]);
  await other.query(
    "INSERT INTO que_lockers (pid, worker_count, worker_priorities, ruby_pid, ruby_hostname, queues, listening) VALUES (pg_backend_pid(), 1, '{}', 4242, 'other-dyno', '{default}', false)",
  );
  await other.query("SELECT pg_advisory_lock($1)", [otherKey]);

  const events = join(tempDir(), "events");
  const run = runJobguard(["--deadline", "1", "--grace", "4", "--", ...WORKER], {
    JOBGUARD_QUEUE: "que",
    DATABASE_URL: db.url,
    LOCK_KEY: String(key),
    QUE_LOCKERS: "que_lockers",
    EVENTS: events,
  });
  const { backend } = await ready(events);
  await dockerStop(run, 4000);
  assert.equal((await run.exited).code, 124);
  // The locker's own name hides jobguard's tag: only que_lockers found it.
  assert.match(
    run.stderr(),
    new RegExp(
      `event=sessions_terminated tag=jobguard-[0-9a-f]{16} sessions=1 backends=${backend}:active advisory_locks=1`,
    ),
  );
  await waitFor(() => lockIsFree(key), {
    timeoutMs: 3000,
    what: "the dead locker's advisory lock to be free",
  });
  assert.equal(await lockIsFree(otherKey), false, "the other dyno's locker lost its lock");
  assert.equal(
    (await other.query("SELECT 1 AS alive")).rows[0].alive,
    1,
    "the other dyno's locker session was ended",
  );
  await other.end();
});
