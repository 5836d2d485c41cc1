import assert from "node:assert/strict";
import { after, test } from "node:test";
import { withClient } from "../../tools/db.js";
import { fileDatabase } from "../support/db.js";
import { killLeftovers, runCommand, runJobguard } from "../support/jobguard.js";

// `jobguard rescue` pointed at the wrong place (src/commands/rescue.ts); what a
// rescue releases is in test/lease/ and test/queues/<queue>/rescue.test.ts.

after(killLeftovers);

const db = fileDatabase();

test("rescue against a queue table that does not exist fails with a sentence naming it, and creates nothing", async () => {
  const { code, out } = await runCommand(["rescue"], {
    DATABASE_URL: db.url,
    JOBGUARD_QUEUE: "delayed_job",
    JOBGUARD_TABLE: "no_such_jobs",
  });
  assert.equal(code, 1, out);
  assert.match(
    out,
    /^jobguard rescue: "no_such_jobs" \(delayed_job's jobs table\) does not exist in 127\.0\.0\.1:\d+\/\w+: set JOBGUARD_TABLE to match the queue's tables, or the database URL to the queue's database\n$/,
  );
  const made = await withClient(db.url, (c) =>
    c.query<{ n: string }>("SELECT count(*) AS n FROM pg_class WHERE relname LIKE 'jobguard%'"),
  );
  assert.equal(made.rows[0]!.n, "0");
});

test("rescue without a queue that keeps leases is a configuration error, exit 2", async () => {
  const refused = async (env: NodeJS.ProcessEnv) => {
    const run = runJobguard(["rescue"], env);
    assert.equal((await run.exited).code, 2);
    return run.stderr();
  };
  assert.match(
    await refused({}),
    /^jobguard: jobguard rescue needs a queue with leases, and no queue is set \(set JOBGUARD_QUEUE to delayed_job or solid_queue or sidekiq or rq\)\n/,
  );
  assert.match(
    await refused({ DATABASE_URL: db.url, JOBGUARD_QUEUE: "good_job" }),
    /JOBGUARD_QUEUE=good_job keeps no leases \(set JOBGUARD_QUEUE to delayed_job or solid_queue or sidekiq or rq\)/,
  );
});
