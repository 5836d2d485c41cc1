import assert from "node:assert/strict";
import { join } from "node:path";
import { after, test } from "node:test";
import pg from "pg";
import { withClient } from "../../../tools/db.js";
import { ADVISORY_WORKER, holdsItsLock, lockIsFree } from "../../support/advisory-locks.js";
import { fileDatabase } from "../../support/db.js";
import { dockerStop, killLeftovers, runJobguard, tempDir } from "../../support/jobguard.js";
import { waitFor } from "../../support/wait.js";

// Que 2.x: its job locks are advisory locks of the locker's session, which
// jobguard finds through que_lockers (the locker's own session name hides
// jobguard's tag) and ends at the kill. Without jobguard the lock outlives a
// killed worker: test/queues/good-job/release.test.ts.

after(killLeftovers);
const db = fileDatabase();

let keys = 7000;

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
  const otherBackend = (await other.query<{ b: number }>("SELECT pg_backend_pid() AS b")).rows[0]!.b;
  await other.query("SELECT set_config('application_name', $1, false)", [`Que Locker: ${otherBackend}`]);
  await other.query(
    "INSERT INTO que_lockers (pid, worker_count, worker_priorities, ruby_pid, ruby_hostname, queues, listening) VALUES (pg_backend_pid(), 1, '{}', 4242, 'other-dyno', '{default}', false)",
  );
  await other.query("SELECT pg_advisory_lock($1)", [otherKey]);

  const events = join(tempDir(), "events");
  const run = runJobguard(["--deadline", "1", "--grace", "4", "--", ...ADVISORY_WORKER], {
    JOBGUARD_QUEUE: "que",
    DATABASE_URL: db.url,
    LOCK_KEY: String(key),
    QUE_LOCKERS: "que_lockers",
    EVENTS: events,
  });
  const { backend } = await holdsItsLock(events);
  await dockerStop(run, 4000);
  assert.equal((await run.exited).code, 124);
  // The locker's own name hides jobguard's tag: only que_lockers found it.
  assert.match(
    run.stderr(),
    new RegExp(
      `event=sessions_terminated tag=jobguard-[0-9a-f]{16} sessions=1 backends=${backend}:active advisory_locks=1`,
    ),
  );
  await waitFor(() => lockIsFree(db.url, key), {
    timeoutMs: 3000,
    what: "the dead locker's advisory lock to be free",
  });
  assert.equal(await lockIsFree(db.url, otherKey), false, "the other dyno's locker lost its lock");
  assert.equal(
    (await other.query<{ alive: number }>("SELECT 1 AS alive")).rows[0]!.alive,
    1,
    "the other dyno's locker session was ended",
  );
  await other.end();
});
