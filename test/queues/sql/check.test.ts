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

test("check never runs the statement: it refuses several statements, and one that uses $4", async () => {
  await withClient(db.url, async (c) => {
    await c.query("CREATE TABLE victim (id int)");
    await c.query("CREATE TABLE held_jobs (id int, owner text)");
    await c.query("INSERT INTO held_jobs VALUES (1, 'host:h pid:1')");
  });
  const several = await check({ JOBGUARD_QUEUE: "sql", JOBGUARD_RELEASE_SQL: "SELECT 1; DROP TABLE victim" });
  assert.equal(several.code, 1, several.out);
  assert.match(
    several.out,
    /error: JOBGUARD_RELEASE_SQL does not fit: it holds more than one statement, and jobguard runs exactly one/,
  );
  const fourth = await check({
    JOBGUARD_QUEUE: "sql",
    JOBGUARD_RELEASE_SQL: "UPDATE held_jobs SET owner = NULL WHERE owner = ANY($3) AND owner <> $4",
  });
  assert.equal(fourth.code, 1, fourth.out);
  assert.match(
    fourth.out,
    /error: JOBGUARD_RELEASE_SQL does not fit: it uses \$4, and jobguard passes only \$1/,
  );
  // A statement that fits is prepared, not run: the row keeps its owner.
  const fits = await check({
    JOBGUARD_QUEUE: "sql",
    JOBGUARD_RELEASE_SQL: "UPDATE held_jobs SET owner = NULL",
  });
  assert.equal(fits.code, 0, fits.out);
  assert.match(fits.out, /prepared without error \(not run\)/);
  await withClient(db.url, async (c) => {
    assert.equal(
      (await c.query<{ there: boolean }>("SELECT to_regclass('victim') IS NOT NULL AS there")).rows[0]!.there,
      true,
    );
    assert.equal(
      (await c.query<{ owner: string }>("SELECT owner FROM held_jobs")).rows[0]!.owner,
      "host:h pid:1",
    );
  });
});
