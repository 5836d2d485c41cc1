import assert from "node:assert/strict";
import { after, test } from "node:test";
import { withClient } from "../../../tools/db.js";
import { fileDatabase } from "../../support/db.js";
import { killLeftovers, runCommand } from "../../support/jobguard.js";

// `jobguard check` for GoodJob: its release reads no table, but a database
// without GoodJob's is the wrong one.

after(killLeftovers);

const db = fileDatabase();

test("check fails against a database without GoodJob's table, and passes with it", async () => {
  const env = { DATABASE_URL: db.url, JOBGUARD_QUEUE: "good_job" };
  const missing = await runCommand(["check"], env);
  assert.equal(missing.code, 1, missing.out);
  assert.match(missing.out, /error: "good_jobs" \(GoodJob's jobs table\) does not exist in this database/);
  await withClient(db.url, (c) => c.query("CREATE TABLE good_jobs (id uuid PRIMARY KEY)"));
  const there = await runCommand(["check"], env);
  assert.equal(there.code, 0, there.out);
  assert.match(there.out, /all is well/);
});
