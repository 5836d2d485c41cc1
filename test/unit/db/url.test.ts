import assert from "node:assert/strict";
import { test } from "node:test";
import { checkDatabaseUrl } from "../../../src/config/database-url.js";
import { describeDatabase, safeMessage } from "../../../src/db/redact.js";
import { libpqUrl } from "../../../src/db/url.js";

// Database URLs as libpq reads them, in process (src/db/url.ts); the
// connections themselves are in test/db/libpq-url.test.ts.

test("libpqUrl: a user but no host becomes user and password parameters; other URLs stay as they are", () => {
  const socket = libpqUrl("postgres://app:p%2Bss@/db?host=/var/run/postgresql");
  assert.equal(socket.hostname, "");
  assert.equal(socket.pathname, "/db");
  assert.equal(socket.searchParams.get("host"), "/var/run/postgresql");
  assert.equal(socket.searchParams.get("user"), "app");
  assert.equal(socket.searchParams.get("password"), "p+ss");
  assert.equal(libpqUrl("postgres://app@").searchParams.get("user"), "app");
  assert.equal(libpqUrl("postgres://a:b@h:6/d").toString(), "postgres://a:b@h:6/d");
  assert.throws(() => libpqUrl("not a url"));
});

test("the socket forms pass the configuration's checks, and are named by their directory", () => {
  const raw = (value: string) => ({ value, source: "DATABASE_URL" });
  for (const url of [
    "postgres://user@/db?host=/var/run/postgresql",
    "postgresql://user:pw@/db?host=/tmp",
    "postgres:///db?host=/tmp",
    "postgres://%2Fvar%2Frun%2Fpostgresql/db",
  ])
    assert.doesNotThrow(() => checkDatabaseUrl(raw(url), {}), url);
  assert.throws(
    () => checkDatabaseUrl(raw("postgres://us%zzer@/db"), {}),
    /malformed %-escape in its user name/,
  );
  assert.equal(
    describeDatabase("postgres://user@/db?host=/var/run/postgresql"),
    "/var/run/postgresql:5432/db",
  );
  assert.equal(describeDatabase("postgres://%2Ftmp:5433/db"), "/tmp:5433/db");
});

test("a password given as a query parameter is redacted too", () => {
  const url = "postgres:///db?host=/tmp&password=hunter%2B2";
  assert.equal(safeMessage(new Error("auth failed: hunter+2"), url), "auth failed: ***");
});
