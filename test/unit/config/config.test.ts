import assert from "node:assert/strict";
import { test } from "node:test";
import { buildConfig } from "../../../src/config/config.js";
import { checkDatabaseUrl } from "../../../src/config/database-url.js";
import { parseArgs, UsageError } from "../../../src/config/options.js";

// Config building and its checks, in-process: no jobguard is started.
// test/cli.test.ts runs the real binary for the output format and exit code.

const config = (argv: string[], env: NodeJS.ProcessEnv = {}) => buildConfig(parseArgs(argv, env), env);

/** Asserts that building the config fails with a UsageError whose sentence matches. */
function rejects(argv: string[], env: NodeJS.ProcessEnv, sentence: RegExp): void {
  assert.throws(
    () => config(argv, env),
    (error: unknown) => error instanceof UsageError && sentence.test(error.message),
  );
}

test("buildConfig: defaults, decimals, and milliseconds", () => {
  const c = config(["--deadline", "2.5", "--", "w"]);
  assert.equal(c.deadlineMs, 2500);
  assert.equal(c.graceMs, 30_000);
  assert.equal(c.forward, "auto");
  assert.equal(c.logLevel, "info");
  assert.equal(c.queue, undefined);
});

test("buildConfig: numbers are plain positive decimals, named by their source", () => {
  for (const bad of ["soon", "0", "-1", "1e3", "0x10", "Infinity", " 3"]) {
    rejects(["--", "w"], { JOBGUARD_GRACE: bad }, /^JOBGUARD_GRACE must be a positive number of seconds/);
  }
  rejects(
    ["--deadline", "30", "--", "w"],
    {},
    /^--deadline=30 must be shorter than the grace period, JOBGUARD_GRACE \(unset: 30\), .* \(leave the deadline unset and it follows the grace\)$/,
  );
});

test("decideForward: Cedar dynos are signalled by the platform, Fir and everything else by jobguard", () => {
  const forward = (dyno: string | undefined, mode?: string) => {
    const c = config(mode ? ["--forward", mode, "--", "w"] : ["--", "w"], dyno ? { DYNO: dyno } : {});
    return [c.forwardSigterm, c.forwardReason];
  };
  assert.deepEqual(forward("worker.1"), [false, "heroku-cedar-signals-every-process"]);
  assert.deepEqual(forward("run.9157"), [false, "heroku-cedar-signals-every-process"]);
  assert.deepEqual(forward("worker-12a34b56d-e78f9"), [true, "heroku-fir-signals-main-process"]);
  assert.deepEqual(forward(undefined), [true, "platform-signals-jobguard-only"]);
  assert.deepEqual(forward("worker.1", "always"), [true, "always"]);
  assert.deepEqual(forward(undefined, "never"), [false, "never"]);
});

test("buildConfig: a queue needs a database; the URL is checked and never echoed", () => {
  rejects(["--", "w"], { JOBGUARD_QUEUE: "delayed_job" }, /JOBGUARD_QUEUE=delayed_job needs a database/);
  assert.throws(
    () => config(["--", "w"], { JOBGUARD_QUEUE: "delayed_job", DATABASE_URL: "mysql://u:hunter2@h/db" }),
    (error: Error) =>
      /DATABASE_URL must be a postgres/.test(error.message) && !error.message.includes("hunter2"),
  );
  rejects(
    ["--", "w"],
    { JOBGUARD_QUEUE: "delayed_job", DATABASE_URL: "postgres://h/db?sslmode=sometimes" },
    /^DATABASE_URL: unknown sslmode "sometimes"/,
  );
  const c = config(["--database-url", "postgres://h/db", "--", "w"], {
    JOBGUARD_QUEUE: "delayed_job",
    DATABASE_URL: "postgres://other/db",
  });
  assert.equal(c.queue?.databaseUrl, "postgres://h/db");
});

test("buildConfig: the settings of one queue are refused for the other, and without a queue", () => {
  const db = { DATABASE_URL: "postgres://h/db" };
  rejects(["--", "w"], { JOBGUARD_TABLE: "jobs" }, /^JOBGUARD_TABLE is set but no queue is/);
  rejects(
    ["--", "w"],
    { ...db, JOBGUARD_QUEUE: "sql" },
    /needs the release statement in JOBGUARD_RELEASE_SQL/,
  );
  rejects(
    ["--", "w"],
    { ...db, JOBGUARD_QUEUE: "delayed_job", JOBGUARD_RELEASE_SQL: "select 1" },
    /^JOBGUARD_RELEASE_SQL is only used with JOBGUARD_QUEUE=sql/,
  );
  rejects(
    ["--heartbeat", "5", "--", "w"],
    { ...db, JOBGUARD_QUEUE: "sql", JOBGUARD_RELEASE_SQL: "select 1" },
    /^--heartbeat is only used with JOBGUARD_QUEUE=delayed_job/,
  );
});

test("buildConfig: tables are identifiers or schema.table; the rescue settings hold together", () => {
  const dj = { DATABASE_URL: "postgres://h/db", JOBGUARD_QUEUE: "delayed_job" };
  assert.deepEqual(config(["--", "w"], { ...dj, JOBGUARD_TABLE: "app.Jobs" }).queue?.table, ["app", "Jobs"]);
  rejects(["--", "w"], { ...dj, JOBGUARD_TABLE: 'jobs"; drop' }, /must be a table name or schema.table/);
  rejects(["--", "w"], { ...dj, JOBGUARD_LEASE_TABLE: "a.b.c" }, /must be a table name or schema.table/);
  rejects(
    ["--heartbeat", "10", "--stale-after", "52", "--", "w"],
    dj,
    /the stale-after time \(52 s, --stale-after\) must be at least the grace period \(30 s, JOBGUARD_GRACE\) plus twice the heartbeat \(10 s, JOBGUARD_HEARTBEAT\) plus 3 s/,
  );
  // Unset, stale-after follows the grace: 90 s of grace and the default heartbeat need 113 s.
  assert.equal(config(["--grace", "90", "--", "w"], dj).queue?.rescue?.staleAfterMs, 113_000);
  assert.equal(config(["--grace", "90", "--", "w"], dj).queue?.rescue?.fenceMs, 22_000);
  rejects(["--", "w"], { ...dj, JOBGUARD_MAX_RESCUES: "2.5" }, /JOBGUARD_MAX_RESCUES must be a whole number/);
  const rescue = config(["--", "w"], { ...dj, JOBGUARD_MAX_RESCUES: "0" }).queue?.rescue;
  assert.deepEqual(rescue, {
    heartbeatMs: 10_000,
    staleAfterMs: 60_000,
    fenceMs: 29_000,
    replicationLagMs: 2000,
    maxRescues: 0,
    leaseTable: ["jobguard_leases"],
    connection: "per-heartbeat",
  });
});

test("buildConfig: with a heartbeat of 2 s or less, stale-after makes room for the replication lag too", () => {
  const dj = { DATABASE_URL: "postgres://h/db", JOBGUARD_QUEUE: "delayed_job" };
  const lease = (args: string[]) => config([...args, "--", "w"], dj).queue?.rescue;
  // grace 2 + 2 x 0.5 + the lag 2 + 3 = 8: the fence (5 s) outlasts the lag, two heartbeats and 2 s for slow ones.
  assert.equal(lease(["--grace", "2", "--heartbeat", "0.5", "--stale-after", "8"])?.fenceMs, 5000);
  rejects(
    ["--grace", "2", "--heartbeat", "0.5", "--stale-after", "7.999", "--", "w"],
    dj,
    /the stale-after time \(7\.999 s, --stale-after\) must be at least the grace period \(2 s, JOBGUARD_GRACE\) plus twice the heartbeat \(0\.5 s, JOBGUARD_HEARTBEAT\) plus 3 s plus 2 s for a heartbeat of 2 s or less \(the replication lag a failover may lose\): .*set JOBGUARD_STALE_AFTER to 8 or more$/,
  );
  // A heartbeat of the lag itself needs it: 2 + 4 + 2 + 3 = 11.
  rejects(
    ["--grace", "2", "--heartbeat", "2", "--stale-after", "10.9", "--", "w"],
    dj,
    /set JOBGUARD_STALE_AFTER to 11 or more$/,
  );
  assert.equal(lease(["--grace", "2", "--heartbeat", "2", "--stale-after", "11"])?.staleAfterMs, 11_000);
  // A longer heartbeat does not: the renewal before the latest is already older than the lag. 2 + 5 + 3 = 10.
  assert.equal(lease(["--grace", "2", "--heartbeat", "2.5", "--stale-after", "10"])?.staleAfterMs, 10_000);
  rejects(
    ["--grace", "2", "--heartbeat", "2.5", "--stale-after", "9.9", "--", "w"],
    dj,
    /plus twice the heartbeat \(2\.5 s, JOBGUARD_HEARTBEAT\) plus 3 s: .*set JOBGUARD_STALE_AFTER to 10 or more$/,
  );
  // Unset, stale-after follows: 90 s of grace and a heartbeat of 1 s need 97 s.
  assert.equal(lease(["--grace", "90", "--heartbeat", "1"])?.staleAfterMs, 97_000);
  assert.equal(lease(["--grace", "30", "--heartbeat", "1"])?.staleAfterMs, 60_000);
});

test("database URL check: a URL node-postgres and libpq can read passes", () => {
  for (const value of [
    "postgres://app:secret@db.example.com:5432/d8a",
    "postgresql://app:p%40ss%25w0rd@h/db?sslmode=require",
    "postgres://%C3%A9mile:pw@h/caf%C3%A9",
    "postgres://h/db",
  ]) {
    assert.doesNotThrow(() => checkDatabaseUrl({ value, source: "DATABASE_URL" }, {}), value);
  }
});

test("database URL check: a malformed %-escape is named by variable and part, never shown", () => {
  const cases: [string, string][] = [
    ["postgres://app:%zz@h/db", "password"],
    ["postgres://app:ab%4@h/db", "password"],
    ["postgres://app:%e9@h/db", "password"],
    ["postgres://app:pw%00@h/db", "password"],
    ["postgres://ap%pp:pw@h/db", "user name"],
    ["postgres://app:pw@h/d%c3%28", "database name"],
    ["postgres://app:pw@h%zz/db", "host"],
  ];
  for (const [value, part] of cases) {
    assert.throws(
      () => checkDatabaseUrl({ value, source: "JOBGUARD_DATABASE_URL" }, {}),
      (error: Error) => {
        assert.ok(error instanceof UsageError, value);
        assert.equal(
          error.message.startsWith(`JOBGUARD_DATABASE_URL has a malformed %-escape in its ${part}:`),
          true,
          error.message,
        );
        assert.ok(!error.message.includes(value), "the URL was shown");
        return true;
      },
    );
  }
  assert.throws(
    () => checkDatabaseUrl({ value: "mysql://u:hunter2@h/db", source: "DATABASE_URL" }, {}),
    /must be a postgres:\/\/ or postgresql:\/\/ URL/,
  );
  assert.throws(
    () => checkDatabaseUrl({ value: "postgres://h/db?sslmode=sometimes", source: "DATABASE_URL" }, {}),
    /DATABASE_URL: unknown sslmode/,
  );
});
