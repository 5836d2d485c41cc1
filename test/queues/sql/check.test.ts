import assert from "node:assert/strict";
import { after, test } from "node:test";
import { withClient } from "../../../tools/db.js";
import { fileDatabase } from "../../support/db.js";
import { killLeftovers, runCommand } from "../../support/jobguard.js";

// `jobguard check` for the sql queue: it prepares the user's statement.

after(killLeftovers);

const db = fileDatabase();

const check = (env: NodeJS.ProcessEnv) => runCommand(["check"], { DATABASE_URL: db.url, ...env });

test("check prepares the sql queue's statement and reports a broken one", async () => {
  await withClient(db.url, (c) => c.query("CREATE TABLE own_jobs (id int, owner text)"));
  const good = await check({
    JOBGUARD_QUEUE: "sql",
    JOBGUARD_RELEASE_SQL: "UPDATE own_jobs SET owner = NULL WHERE owner = ANY($3)",
  });
  assert.equal(good.code, 0, good.out);
  assert.match(good.out, /release statement: prepared without error/);
  const bad = await check({ JOBGUARD_QUEUE: "sql", JOBGUARD_RELEASE_SQL: "UPDATE no_such_table SET x = 1" });
  assert.equal(bad.code, 1);
  assert.match(bad.out, /error: relation "no_such_table" does not exist/);
});
