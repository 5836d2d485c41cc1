import assert from "node:assert/strict";
import { join } from "node:path";
import { after, test } from "node:test";
import { withClient } from "../../tools/db.js";
import { fileDatabase, getJob, insertJob, newJobsTable } from "../support/db.js";
import { dockerStop, killLeftovers, runJobguard, tempDir } from "../support/jobguard.js";
import { PG_WORKER, lockJobSql, workerReady } from "../support/pg-worker.js";
import { waitFor } from "../support/wait.js";

// The worker's database sessions, which every release ends after a kill
// (src/db/sessions.ts): found by the tag jobguard gives them in PGAPPNAME,
// unless the user named them.

after(killLeftovers);

const db = fileDatabase();

test("a worker stuck in a long query: its tagged sessions are terminated and reported", async () => {
  const table = await newJobsTable(db.url);
  const id = await insertJob(db.url, { table, handler: "x" });
  const events = join(tempDir(), "events");
  const run = runJobguard(["--deadline", "1", "--grace", "3", "--", ...PG_WORKER], {
    JOBGUARD_QUEUE: "delayed_job",
    JOBGUARD_TABLE: table,
    DATABASE_URL: db.url,
    EVENTS: events,
    LONG_QUERY: "1",
    LOCK_SQL: lockJobSql(table, id),
  });
  const { app: tag } = await workerReady(events);
  assert.match(tag, /^jobguard-[0-9a-f]{16}$/, "the worker's sessions were not tagged");
  const stuck = async () =>
    withClient(
      db.url,
      async (c) =>
        (
          await c.query<{ pid: number }>(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query LIKE '%pg_sleep%'",
            [tag],
          )
        ).rows,
    );
  const [backend] = await stuck();
  assert.ok(backend, "the long query is not running");

  await dockerStop(run, 3000);
  assert.equal((await run.exited).code, 124);
  assert.match(
    run.stderr(),
    new RegExp(
      `event=sessions_terminated tag=${tag} sessions=\\d+ backends=[\\d:a-z,]*${backend.pid}:active`,
    ),
  );
  await waitFor(async () => (await stuck()).length === 0, { timeoutMs: 3000, what: "the long query to end" });
  assert.equal((await getJob(db.url, id, table))?.locked_by, null);
});

test("a PGAPPNAME the user set is kept, and then no session is terminated", async () => {
  const events = join(tempDir(), "events");
  const run = runJobguard(["--deadline", "1", "--grace", "3", "--", ...PG_WORKER], {
    JOBGUARD_QUEUE: "delayed_job",
    JOBGUARD_TABLE: await newJobsTable(db.url),
    DATABASE_URL: db.url,
    EVENTS: events,
    PGAPPNAME: "my-worker",
  });
  assert.equal((await workerReady(events)).app, "my-worker");
  await dockerStop(run, 3000);
  assert.equal((await run.exited).code, 124);
  assert.doesNotMatch(run.stderr(), /sessions_terminated/);
  assert.match(run.stderr(), /event=locks_released queue=delayed_job jobs=0 /);
});
