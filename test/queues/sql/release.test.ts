import assert from "node:assert/strict";
import { join } from "node:path";
import { after, test } from "node:test";
import { withClient } from "../../../tools/db.js";
import { fileDatabase } from "../../support/db.js";
import { dockerStop, killLeftovers, runJobguard, tempDir } from "../../support/jobguard.js";
import { PG_WORKER, workerReady } from "../../support/pg-worker.js";

// The sql queue: the user's own release statement (src/queues/sql/), run with
// the host, the dead pids and their worker names.

after(killLeftovers);

const db = fileDatabase();

test("the sql queue runs the user's own statement with host, pids and worker names", async () => {
  await withClient(db.url, (c) =>
    c.query(
      "CREATE TABLE custom_jobs (id serial PRIMARY KEY, owner_host text, owner_pid int, owner_name text)",
    ),
  );
  await withClient(db.url, (c) =>
    c.query("INSERT INTO custom_jobs (owner_host, owner_pid) VALUES (NULL, NULL), ('elsewhere', 1)"),
  );
  const events = join(tempDir(), "events");
  const run = runJobguard(["--deadline", "1", "--grace", "3", "--", ...PG_WORKER], {
    JOBGUARD_QUEUE: "sql",
    JOBGUARD_RELEASE_SQL:
      "UPDATE custom_jobs SET owner_host = NULL, owner_pid = NULL, owner_name = NULL WHERE owner_host = $1 AND owner_pid = ANY($2) AND owner_name = ANY($3) RETURNING id",
    DATABASE_URL: db.url,
    EVENTS: events,
    LOCK_SQL: "UPDATE custom_jobs SET owner_name = $1, owner_host = $2, owner_pid = $3 WHERE id = 1",
  });
  await workerReady(events);
  await dockerStop(run, 3000);
  assert.equal((await run.exited).code, 124);
  assert.match(run.stderr(), /event=locks_released queue=sql jobs=1 ids=1 /);
  const rows = await withClient(
    db.url,
    async (c) =>
      (
        await c.query<{ id: number; owner_host: string | null }>(
          "SELECT id, owner_host FROM custom_jobs ORDER BY id",
        )
      ).rows,
  );
  assert.deepEqual(rows, [
    { id: 1, owner_host: null },
    { id: 2, owner_host: "elsewhere" },
  ]);
});
