import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { checkDatabaseUrl } from "../../../src/config/config.js";
import { UsageError } from "../../../src/config/options.js";
import { describeDatabase, safeMessage } from "../../../src/db/redact.js";
import { attemptLimit, isTransient } from "../../../src/db/retry.js";
import { sslModeOf, tlsOptions } from "../../../src/db/tls.js";
import { DeadLimit } from "../../../src/lease/prune-history.js";
import { readProcess } from "../../../src/process-tree/proc.js";
import { TreeHistory } from "../../../src/process-tree/tree-history.js";

// The database layer's pure parts, in process: no database, no child process.

test("sslmode: the URL's wins over PGSSLMODE, and none at all means prefer, as in libpq", () => {
  assert.equal(sslModeOf("postgres://h/db", {}), "prefer");
  assert.equal(sslModeOf("postgres://h/db", { PGSSLMODE: "require" }), "require");
  assert.equal(sslModeOf("postgres://h/db?sslmode=disable", { PGSSLMODE: "require" }), "disable");
  assert.equal(sslModeOf("postgres://h/db", { PGSSLMODE: "" }), "prefer");
  assert.throws(() => sslModeOf("postgres://h/db?sslmode=maybe", {}), /unknown sslmode "maybe"/);
});

test("sslmode to TLS options: require encrypts without verifying, verify-ca skips the host name, verify-full checks both", async () => {
  const noParams = new URLSearchParams();
  for (const mode of ["prefer", "allow", "require", "no-verify"] as const) {
    assert.deepEqual(await tlsOptions(mode, noParams), { rejectUnauthorized: false }, mode);
  }
  assert.deepEqual(await tlsOptions("verify-full", noParams), {});
  const verifyCa = await tlsOptions("verify-ca", noParams);
  assert.equal(verifyCa.rejectUnauthorized, undefined);
  assert.equal(verifyCa.checkServerIdentity?.("h", {} as never), undefined);

  const ca = join(mkdtempSync(join(tmpdir(), "jobguard-unit-")), "root.crt");
  writeFileSync(ca, "ROOT CERTIFICATE");
  const withRoot = new URLSearchParams({ sslrootcert: ca });
  // libpq: require with a root certificate verifies the chain, as verify-ca does.
  const requireWithRoot = await tlsOptions("require", withRoot);
  assert.equal(requireWithRoot.ca, "ROOT CERTIFICATE");
  assert.equal(requireWithRoot.rejectUnauthorized, undefined);
  assert.equal(typeof requireWithRoot.checkServerIdentity, "function");
  assert.deepEqual(await tlsOptions("verify-full", withRoot), { ca: "ROOT CERTIFICATE" });
});

test("redaction: the password goes wherever it stands whole, and only there", () => {
  const url = "postgres://app:post@db.example.com:5432/postgres";
  assert.equal(
    safeMessage(new Error("password authentication failed: post"), url),
    "password authentication failed: ***",
  );
  assert.equal(
    safeMessage(new Error('database "postgres" does not exist'), url),
    'database "postgres" does not exist',
  );
  assert.equal(safeMessage(new Error(`cannot reach ${url} now`), url), "cannot reach *** now");
});

test("redaction: an escaped password goes as written and as decoded; a malformed escape does not throw", () => {
  const escaped = "postgres://app:p%40ss%2Fw0rd@h/db";
  assert.equal(safeMessage(new Error("bad p@ss/w0rd and p%40ss%2Fw0rd"), escaped), "bad *** and ***");
  const malformed = "postgres://app:%zz-secret@h/db";
  assert.equal(safeMessage(new Error("auth failed for %zz-secret"), malformed), "auth failed for ***");
  assert.equal(safeMessage("a string thrown, %zz-secret", malformed), "a string thrown, ***");
  assert.doesNotThrow(() => safeMessage(new Error("x"), "postgres://app:%e9@h/db"));
});

test("a database is named by host, port and name, never by its password, whatever the URL", () => {
  assert.equal(describeDatabase("postgres://app:secret@db.example.com/d8a"), "db.example.com:5432/d8a");
  assert.equal(describeDatabase("postgres://app:secret@db.example.com:6543/d8a"), "db.example.com:6543/d8a");
  assert.equal(describeDatabase("not a url secret"), "<the database URL, which cannot be parsed>");
});

test("transient errors: the network, a restarting server, a silent connection; not a mistake another try repeats", () => {
  for (const code of [
    "ECONNREFUSED",
    "ECONNRESET",
    "ETIMEDOUT",
    "57P01",
    "57P03",
    "53300",
    "40001",
    "40P01",
    "55P03",
    "08006",
    "08001",
  ]) {
    assert.equal(isTransient(Object.assign(new Error("x"), { code })), true, code);
  }
  for (const code of ["08P01", "42601", "42P01", "28P01", "23505"]) {
    assert.equal(isTransient(Object.assign(new Error("x"), { code })), false, code);
  }
  assert.equal(isTransient(new Error("Connection terminated unexpectedly")), true);
  assert.equal(isTransient(new Error("timeout expired")), true);
  assert.equal(isTransient(new Error('relation "jobs" does not exist')), false);
  // An AbortError carries a numeric code: classified, never a TypeError.
  assert.equal(isTransient(new DOMException("This operation was aborted", "AbortError")), false);
  assert.equal(isTransient(undefined), false);
  assert.equal(isTransient(null), false);
  assert.equal(isTransient("a string"), false);
});

test("an attempt gets half the time left, at least a second, never more than is left", () => {
  assert.equal(attemptLimit(5000), 2500);
  assert.equal(attemptLimit(1500), 1000);
  assert.equal(attemptLimit(600), 600);
  assert.equal(attemptLimit(0), 0);
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

test("a queue without leases keeps the history's dead processes to those that died last", () => {
  const history = new TreeHistory();
  // Pids above pid_max never run: these processes are dead from the start.
  const gone = (pid: number) => ({ pid, ppid: 1, pgid: pid, state: "S", startTime: pid });
  const me = readProcess(process.pid)!;
  history.record([me, ...[1, 2, 3, 4, 5].map((n) => gone(4_200_000 + n))]);
  const limit = new DeadLimit(history, 3);
  limit.prune();
  assert.deepEqual(
    history.all().sort((a, b) => a - b),
    [process.pid, 4_200_003, 4_200_004, 4_200_005],
  );
  history.record([gone(4_200_006), gone(4_200_007)]);
  limit.prune();
  assert.deepEqual(
    history.all().sort((a, b) => a - b),
    [process.pid, 4_200_005, 4_200_006, 4_200_007],
    "the earliest dead go first; the living stay",
  );
});
