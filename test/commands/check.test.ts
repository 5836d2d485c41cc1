import assert from "node:assert/strict";
import { after, test } from "node:test";
import { withClient } from "../../tools/db.js";
import { createDelayedJobsTable, fileDatabase } from "../support/db.js";
import { killLeftovers, runCommand } from "../support/jobguard.js";
import { createRole } from "../support/roles.js";

// `jobguard check` whatever the queue (src/commands/check.ts): what every
// release needs of the database and of jobguard's own tables. Each queue's own
// checks are in test/queues/<queue>/check.test.ts.

after(killLeftovers);

const db = fileDatabase();

test("check without a queue says jobguard never touches a database", async () => {
  const { code, out } = await runCommand(["check"], { DATABASE_URL: db.url });
  assert.equal(code, 0);
  assert.match(out, /no queue configured/);
});

test("check fails for a role that may use the jobs but may not create jobguard's lease table, and creates nothing", async () => {
  await createDelayedJobsTable(db.url, "granted_jobs");
  const role = await createRole(db.url);
  await withClient(db.url, async (c) => {
    // PostgreSQL 15's default, made explicit for an older test server.
    await c.query("REVOKE CREATE ON SCHEMA public FROM PUBLIC");
    await c.query(`GRANT SELECT, UPDATE ON granted_jobs TO ${role.name}`);
  });
  const env = {
    DATABASE_URL: role.url(db.url),
    JOBGUARD_QUEUE: "delayed_job",
    JOBGUARD_TABLE: "granted_jobs",
  };
  const refused = await runCommand(["check"], env);
  assert.equal(refused.code, 1, refused.out);
  assert.match(
    refused.out,
    new RegExp(
      `error: "jobguard_leases" and "jobguard_leases_rescues" cannot be created: the role ${role.name} may not create tables in schema public \\(GRANT CREATE ON SCHEMA public TO ${role.name},`,
    ),
  );
  assert.match(refused.out, /needs attention\n$/);

  await withClient(db.url, (c) => c.query(`GRANT CREATE ON SCHEMA public TO ${role.name}`));
  const creatable = await runCommand(["check"], env);
  assert.equal(creatable.code, 0, creatable.out);
  assert.match(creatable.out, /not there yet; jobguard creates them in schema public at its first heartbeat/);
  // check reads and prepares, never writes.
  const made = await withClient(db.url, (c) =>
    c.query<{ n: string }>("SELECT count(*) AS n FROM pg_class WHERE relname LIKE 'jobguard_leases%'"),
  );
  assert.equal(made.rows[0]!.n, "0");
});

test("check fails when jobguard's lease tables exist but the role may not write them", async () => {
  await createDelayedJobsTable(db.url, "owned_jobs");
  const role = await createRole(db.url);
  await withClient(db.url, async (c) => {
    await c.query(`GRANT SELECT, UPDATE ON owned_jobs TO ${role.name}`);
    await c.query("CREATE TABLE theirs_leases (id text)");
    await c.query("CREATE TABLE theirs_leases_rescues (job_id bigint)");
    await c.query(`GRANT SELECT ON theirs_leases, theirs_leases_rescues TO ${role.name}`);
  });
  const { code, out } = await runCommand(["check"], {
    DATABASE_URL: role.url(db.url),
    JOBGUARD_QUEUE: "delayed_job",
    JOBGUARD_TABLE: "owned_jobs",
    JOBGUARD_LEASE_TABLE: "theirs_leases",
  });
  assert.equal(code, 1, out);
  assert.match(
    out,
    new RegExp(
      `error: the role ${role.name} may not INSERT or UPDATE or DELETE "theirs_leases" \\(jobguard's lease table\\), which the release needs: GRANT INSERT, UPDATE, DELETE ON "theirs_leases" TO ${role.name}`,
    ),
  );
  assert.match(
    out,
    /may not INSERT or UPDATE or DELETE "theirs_leases_rescues" \(jobguard's rescue counts\)/,
  );
});

test("check names a lease table's schema that does not exist", async () => {
  await createDelayedJobsTable(db.url, "schemaless_jobs");
  const { code, out } = await runCommand(["check"], {
    DATABASE_URL: db.url,
    JOBGUARD_QUEUE: "delayed_job",
    JOBGUARD_TABLE: "schemaless_jobs",
    JOBGUARD_LEASE_TABLE: "nowhere.leases",
  });
  assert.equal(code, 1, out);
  assert.match(
    out,
    /error: "nowhere"\."leases" and "nowhere"\."leases_rescues" cannot be created: there is no schema nowhere/,
  );
});

test("options after check are read as before it: jobguard check --queue delayed_job runs check", async () => {
  await createDelayedJobsTable(db.url, "after_jobs");
  const { code, out } = await runCommand(["check", "--queue", "delayed_job", "--table=after_jobs"], {
    DATABASE_URL: db.url,
  });
  assert.equal(code, 0, out);
  assert.match(out, /^jobguard check: queue=delayed_job database=\S+ table=after_jobs\n/);
});
