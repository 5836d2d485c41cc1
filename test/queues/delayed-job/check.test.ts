import assert from "node:assert/strict";
import { hostname } from "node:os";
import { after, test } from "node:test";
import { hasWorkerIndex, WORKER_NAME } from "../../../src/queues/delayed-job/sql.js";
import { withClient } from "../../../tools/db.js";
import { createDelayedJobsTable, fileDatabase, insertJob } from "../../support/db.js";
import { killLeftovers, runCommand } from "../../support/jobguard.js";
import { createRole } from "../../support/roles.js";

// `jobguard check` for delayed_job: the locks by worker, this host's dead
// ones, the index it recommends, and what it says when it cannot look.

after(killLeftovers);

const db = fileDatabase();

const check = (env: NodeJS.ProcessEnv) => runCommand(["check"], { DATABASE_URL: db.url, ...env });

test("check lists the locks by worker, marks this host's dead ones, and asks for the index", async () => {
  await createDelayedJobsTable(db.url, "listed");
  const dead = await insertJob(db.url, {
    table: "listed",
    handler: "x",
    lockedBy: `delayed_job.1 host:${hostname()} pid:999999`,
  });
  const live = await insertJob(db.url, {
    table: "listed",
    handler: "x",
    lockedBy: `host:${hostname()} pid:${process.pid}`,
  });
  await insertJob(db.url, { table: "listed", handler: "x", lockedBy: "host:elsewhere pid:1" });
  const { code, out } = await check({ JOBGUARD_QUEUE: "delayed_job", JOBGUARD_TABLE: "listed" });
  assert.equal(code, 1);
  assert.match(
    out,
    new RegExp(`delayed_job\\.1 host:${hostname()} pid:999999: 1 job \\(ids ${dead}\\) .*stale lock`),
  );
  assert.match(
    out,
    new RegExp(`host:${hostname()} pid:${process.pid}: 1 job \\(ids ${live}\\) locked since \\S+\\n`),
  );
  assert.match(out, /host:elsewhere pid:1: 1 job .*Z\n/);
  assert.match(out, /warning: no index on the worker names in locked_by/);
  assert.match(
    out,
    /CREATE INDEX CONCURRENTLY "listed_jobguard_worker" ON "listed" \(\(substring\(locked_by from position\('host:' in locked_by\)\)\)\) WHERE locked_by IS NOT NULL;/,
  );
  assert.doesNotMatch(out, /postgres:\/\//);
});

test("check is happy with live locks and the recommended index", async () => {
  await createDelayedJobsTable(db.url, "tidy");
  await insertJob(db.url, { table: "tidy", handler: "x", lockedBy: `host:${hostname()} pid:${process.pid}` });
  // The statement `check` itself recommends, run as printed.
  const first = await check({ JOBGUARD_QUEUE: "delayed_job", JOBGUARD_TABLE: "tidy" });
  const index = /^\s+(CREATE INDEX CONCURRENTLY .*)$/m.exec(first.out)![1]!;
  await withClient(db.url, (c) => c.query(index));
  const { code, out } = await check({ JOBGUARD_QUEUE: "delayed_job", JOBGUARD_TABLE: "tidy" });
  assert.equal(code, 0, out);
  assert.doesNotMatch(out, /warning|error/);
});

test("check asks for the index when the one there cannot serve a lookup by name: the judgment the sweep chooses its seek by", async () => {
  const expr = `(${WORKER_NAME})`;
  const cases: [string, string, boolean][] = [
    ["narrower", `(${expr}) WHERE locked_by IS NOT NULL AND failed_at IS NULL`, false],
    ["wrapped", `(lower${expr}) WHERE locked_by IS NOT NULL`, false],
    ["second", `(queue, ${expr}) WHERE locked_by IS NOT NULL`, false],
    ["hash", `USING hash (${expr}) WHERE locked_by IS NOT NULL`, false],
    ["whole", `(${expr})`, true],
    ["recommended", `(${expr}) WHERE locked_by IS NOT NULL`, true],
  ];
  for (const [table, index, seeks] of cases) {
    await createDelayedJobsTable(db.url, `ix_${table}`);
    await withClient(db.url, (c) => c.query(`CREATE INDEX ON ix_${table} ${index}`));
    const found = await withClient(db.url, (c) => hasWorkerIndex(c, `ix_${table}`));
    assert.equal(found, seeks, `${table}: ${index}`);
  }
  const { code, out } = await check({ JOBGUARD_QUEUE: "delayed_job", JOBGUARD_TABLE: "ix_narrower" });
  assert.equal(code, 0, out);
  assert.match(out, /warning: no index on the worker names in locked_by/);
});

test("check: a missing table, an unreachable server and a TLS mode the server cannot meet each say so", async () => {
  const missing = await check({ JOBGUARD_QUEUE: "delayed_job", JOBGUARD_TABLE: "nowhere" });
  assert.equal(missing.code, 1);
  assert.match(missing.out, /error: "nowhere" \(delayed_job's jobs table\) does not exist in this database/);

  const down = await check({
    JOBGUARD_QUEUE: "delayed_job",
    DATABASE_URL: "postgres://me:pw-not-shown@127.0.0.1:1/db",
  });
  assert.equal(down.code, 1);
  assert.match(down.out, /error: cannot connect to 127\.0\.0\.1:1\/db: connect ECONNREFUSED/);
  assert.doesNotMatch(down.out, /pw-not-shown/);

  // The test server has no TLS: `require` must fail clearly, `prefer` (libpq's default) falls back.
  const url = new URL(db.url);
  url.searchParams.set("sslmode", "require");
  const tls = await check({
    JOBGUARD_QUEUE: "delayed_job",
    JOBGUARD_TABLE: "tidy",
    DATABASE_URL: url.toString(),
  });
  assert.equal(tls.code, 1);
  assert.match(tls.out, /does not support SSL/);
  const prefer = await check({ JOBGUARD_QUEUE: "delayed_job", JOBGUARD_TABLE: "tidy", PGSSLMODE: "prefer" });
  assert.equal(prefer.code, 0, prefer.out);
});

test("check names a privilege the release needs and the role lacks", async () => {
  await createDelayedJobsTable(db.url, "read_only_jobs");
  const role = await createRole(db.url);
  await withClient(db.url, async (c) => {
    await c.query(`GRANT SELECT ON read_only_jobs TO ${role.name}`);
    await c.query(`GRANT CREATE ON SCHEMA public TO ${role.name}`);
  });
  const { code, out } = await check({
    DATABASE_URL: role.url(db.url),
    JOBGUARD_QUEUE: "delayed_job",
    JOBGUARD_TABLE: "read_only_jobs",
  });
  assert.equal(code, 1, out);
  assert.match(
    out,
    new RegExp(
      `error: the role ${role.name} may not UPDATE "read_only_jobs" \\(delayed_job's jobs table\\), which the release needs: GRANT UPDATE ON "read_only_jobs" TO ${role.name}`,
    ),
  );
});

test("check escapes what it prints from the database: a locked_by cannot forge a line", async () => {
  await createDelayedJobsTable(db.url, "forged");
  await insertJob(db.url, {
    table: "forged",
    handler: "x",
    lockedBy: "host:elsewhere pid:1\nFORGED: a line of its own\u001b[2J",
  });
  const { out } = await check({ JOBGUARD_QUEUE: "delayed_job", JOBGUARD_TABLE: "forged" });
  assert.match(out, /host:elsewhere pid:1\\x0aFORGED: a line of its own\\x1b\[2J: 1 job/);
  assert.doesNotMatch(out, /^FORGED/m);
  assert.ok(!out.includes("\u001b"), out);
});
