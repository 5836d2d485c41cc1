import assert from "node:assert/strict";
import { test } from "node:test";
import { describeDatabase, safeMessage } from "../../../src/db/redact.js";

// What a log line may say about a database, in process: never its password or its URL.

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
