import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { pgpassPassword } from "../../../src/db/pgpass.js";

// libpq's password file as src/db/pgpass.ts reads it, in process; the
// connection that uses it is in test/db/libpq-url.test.ts.

function passfile(text: string, mode = 0o600): NodeJS.ProcessEnv {
  const file = join(mkdtempSync(join(tmpdir(), "jobguard-pgpass-")), "pgpass");
  writeFileSync(file, text);
  chmodSync(file, mode);
  return { PGPASSFILE: file };
}

const target = { host: "db.example.com", port: "5432", database: "app", user: "worker" };

test("the first matching line wins; * matches anything; \\: and \\\\ are a colon and a backslash", () => {
  const env = passfile(
    [
      "# a comment",
      "",
      "db.example.com:5432:other:worker:not-this-one",
      "db.example.com:*:app:worker:pa\\:ss\\\\word:with:colons",
      "*:*:*:*:fallback",
    ].join("\n"),
  );
  assert.deepEqual(pgpassPassword(target, env), { password: "pa:ss\\word:with:colons" });
  assert.deepEqual(pgpassPassword({ ...target, user: "someone" }, env), { password: "fallback" });
});

test("a socket connection matches localhost as well as its directory", () => {
  const env = passfile("localhost:5432:app:worker:local\n");
  assert.deepEqual(pgpassPassword({ ...target, host: "/var/run/postgresql" }, env), { password: "local" });
  assert.ok("none" in pgpassPassword(target, env));
});

test("no file, no matching line, or a file others may read: no password, and why", () => {
  assert.match(
    (pgpassPassword(target, { PGPASSFILE: "/nonexistent/pgpass" }) as { none: string }).none,
    /^no \/nonexistent\/pgpass$/,
  );
  assert.match((pgpassPassword(target, passfile("h:1:d:u:p\n")) as { none: string }).none, /^no line of /);
  assert.match(
    (pgpassPassword(target, passfile("*:*:*:*:p\n", 0o644)) as { none: string }).none,
    /is ignored: group or others may read it \(chmod 600 it\)$/,
  );
});
