import assert from "node:assert/strict";
import { test } from "node:test";
import { buildConfig } from "../../../src/config/config.js";
import { parseArgs, usage, UsageError } from "../../../src/config/options.js";
import { QUEUES } from "../../../src/queues/descriptors.js";
import { loadAdapter } from "../../../src/queues/index.js";
import { released } from "../../../src/queues/released.js";
import { workerNames } from "../../../src/queues/worker-names.js";

// The queues' descriptors and what config/ makes of them, in process: no
// database, no child process.

const DB = { DATABASE_URL: "postgres://h/db" };
const queue = (env: NodeJS.ProcessEnv) => buildConfig(parseArgs(["--", "w"], env), env).queue;

test("each queue gets the table its descriptor names, and a queue without a table setting none", () => {
  assert.deepEqual(queue({ ...DB, JOBGUARD_QUEUE: "delayed_job" })?.table, ["delayed_jobs"]);
  assert.deepEqual(queue({ ...DB, JOBGUARD_QUEUE: "que" })?.table, ["que_lockers"]);
  assert.deepEqual(queue({ ...DB, JOBGUARD_QUEUE: "solid_queue" })?.table, ["solid_queue_"]);
  assert.deepEqual(queue({ ...DB, JOBGUARD_QUEUE: "solid_queue", JOBGUARD_TABLE_PREFIX: "app.sq_" })?.table, [
    "app",
    "sq_",
  ]);
  assert.equal(queue({ ...DB, JOBGUARD_QUEUE: "good_job" })?.table, undefined);
  const sql = queue({ ...DB, JOBGUARD_QUEUE: "sql", JOBGUARD_RELEASE_SQL: "select 1" });
  assert.equal(sql?.table, undefined);
  assert.deepEqual(sql?.settings, { releaseSql: "select 1" });
});

test("a setting is refused for a queue whose descriptor does not read it, naming the queues that do", () => {
  const refused = (env: NodeJS.ProcessEnv, sentence: string) =>
    assert.throws(
      () => queue({ ...DB, ...env }),
      (error: unknown) => error instanceof UsageError && error.message === sentence,
    );
  refused(
    { JOBGUARD_QUEUE: "solid_queue", JOBGUARD_TABLE: "jobs" },
    "JOBGUARD_TABLE is only used with JOBGUARD_QUEUE=delayed_job or JOBGUARD_QUEUE=que",
  );
  refused(
    { JOBGUARD_QUEUE: "good_job", JOBGUARD_TABLE_PREFIX: "sq_" },
    "JOBGUARD_TABLE_PREFIX is only used with JOBGUARD_QUEUE=solid_queue",
  );
  refused(
    { JOBGUARD_QUEUE: "que", JOBGUARD_MAX_RESCUES: "2" },
    "JOBGUARD_MAX_RESCUES is only used with JOBGUARD_QUEUE=delayed_job or JOBGUARD_QUEUE=solid_queue or JOBGUARD_QUEUE=sidekiq or JOBGUARD_QUEUE=rq",
  );
  // A queue in Redis has no lease table and no PostgreSQL connection to keep.
  refused(
    { JOBGUARD_QUEUE: "sidekiq", REDIS_URL: "redis://h", JOBGUARD_LEASE_TABLE: "t" },
    "JOBGUARD_LEASE_TABLE is only used with JOBGUARD_QUEUE=delayed_job or JOBGUARD_QUEUE=solid_queue",
  );
});

test("a queue's descriptor and its adapter agree: leases exactly where the adapter can rescue", async () => {
  for (const descriptor of QUEUES) {
    if (descriptor.store !== "postgresql") continue;
    // Each queue's required settings, and none other.
    const required = descriptor.settings.some((s) => s.key === "releaseSql")
      ? { JOBGUARD_RELEASE_SQL: "select 1" }
      : {};
    const config = queue({ ...DB, JOBGUARD_QUEUE: descriptor.kind, ...required });
    assert.ok(config, descriptor.kind);
    assert.equal(config.rescue !== undefined, descriptor.leases, descriptor.kind);
    assert.equal((await loadAdapter(config)).rescue !== undefined, descriptor.leases, descriptor.kind);
  }
});

test("the help names every queue, with its line", () => {
  const lines = usage().split("\n");
  for (const { kind, describe } of QUEUES) {
    assert.ok(
      lines.some((line) => line.startsWith(`  ${kind} `) && line.endsWith(`  ${describe}`)),
      kind,
    );
  }
});

test("a counted release's rows: the jobs put back, and those marked failed", () => {
  const rows = [
    { id: "1", failed: false },
    { id: "2", failed: true },
    { id: "3", failed: false },
  ];
  assert.deepEqual(released(rows), { count: 2, ids: ["1", "3"], failed: ["2"] });
  assert.deepEqual(workerNames("h", [1, 12]), ["host:h pid:1", "host:h pid:12"]);
});
