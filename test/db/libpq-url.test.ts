import assert from "node:assert/strict";
import { chmodSync, writeFileSync } from "node:fs";
import { createServer, connect, type Server } from "node:net";
import { userInfo } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { withClient } from "../../tools/db.js";
import { fileDatabase } from "../support/db.js";
import { killLeftovers, runJobguard, tempDir } from "../support/jobguard.js";
import { createRole, type TestRole } from "../support/roles.js";

// Database URLs as libpq reads them (src/db/url.ts, src/db/connect.ts,
// src/db/pgpass.ts), through `jobguard check` against the test server: the
// socket forms, the user from PGUSER or the process's owner, the password
// file, and a missing password named as such. The test server listens on TCP
// only; a forwarder gives it a Unix socket in a directory of this file's own.

after(killLeftovers);

const db = fileDatabase({
  // Top-level hooks do not wait for each other: the role is made with the database.
  setup: async (url) => {
    await withClient(url, (c) => c.query("CREATE TABLE good_jobs (id int)"));
    role = await createRole(url, { dropAfterTest: false });
    password = new URL(role.url(url)).password;
  },
});
const SOCKET_PORT = "5999";
const socketDir = tempDir();
let forwarder: Server;
let role: TestRole;
let password: string;

before(async () => {
  const target = new URL(process.env.TEST_DATABASE_URL!);
  forwarder = createServer((client) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((listening) =>
    forwarder.listen(join(socketDir, `.s.PGSQL.${SOCKET_PORT}`), listening),
  );
});
after(async () => {
  forwarder.close();
  await role?.drop();
});

/** The role's name and password, made once for the file (a role made in a test is dropped after it). */
function theRole(): { name: string; password: string } {
  return { name: role.name, password };
}

/** `jobguard check` for good_job with this URL; no password or user from the test's own environment. */
async function check(url: string, env: NodeJS.ProcessEnv = {}) {
  const run = runJobguard(["check"], {
    JOBGUARD_QUEUE: "good_job",
    JOBGUARD_DATABASE_URL: url,
    PGPASSWORD: undefined,
    PGUSER: undefined,
    PGPASSFILE: join(socketDir, "no-such-pgpass"),
    ...env,
  });
  let out = "";
  run.child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
  const { code } = await run.exited;
  return { code, out, stderr: run.stderr() };
}

test("the socket form with a user and no host: postgres://user:password@/db?host=/dir", async () => {
  const { name, password } = theRole();
  const { code, out } = await check(
    `postgres://${name}:${password}@/${db.name}?host=${socketDir}&port=${SOCKET_PORT}`,
  );
  assert.equal(code, 0, out);
  assert.match(out, new RegExp(`database=${socketDir}:${SOCKET_PORT}/${db.name}`));
  assert.doesNotMatch(out, new RegExp(password));
});

test("no user in the URL: PGUSER, else the process's owner, whatever $USER says", async () => {
  const { name, password } = theRole();
  const url = `postgres:///${db.name}?host=${socketDir}&port=${SOCKET_PORT}`;
  const fromPgUser = await check(url, { PGUSER: name, PGPASSWORD: password, USER: undefined });
  assert.equal(fromPgUser.code, 0, fromPgUser.out);
  const owner = await check(url, { PGPASSWORD: "not-the-password", USER: "someone-else" });
  assert.equal(owner.code, 1, owner.out);
  assert.match(owner.out, new RegExp(`for user "${userInfo().username}"`));
});

test("no password: the password file, without a deprecation warning; none at all is named as such", async () => {
  const { name, password } = theRole();
  const url = `postgres://${name}@/${db.name}?host=${socketDir}&port=${SOCKET_PORT}`;
  const none = await check(url);
  assert.equal(none.code, 1, none.out);
  assert.match(
    none.out,
    new RegExp(
      `error: cannot connect to .*: the server asks for a password for user ${name}, and none is given: not in the database URL, no PGPASSWORD, no ${socketDir}/no-such-pgpass\\n`,
    ),
  );
  // A socket connection matches "localhost" in the file, as in libpq; the first matching line wins.
  const file = join(socketDir, "pgpass");
  writeFileSync(
    file,
    `# comment\nelsewhere:*:*:*:wrong\nlocalhost:${SOCKET_PORT}:${db.name}:${name}:${password}\n*:*:*:*:wrong\n`,
  );
  chmodSync(file, 0o600);
  const found = await check(url, { PGPASSFILE: file });
  assert.equal(found.code, 0, found.out);
  assert.doesNotMatch(found.stderr, /deprecat|Warning/i);
  chmodSync(file, 0o644);
  const open = await check(url, { PGPASSFILE: file });
  assert.equal(open.code, 1, open.out);
  assert.match(open.out, /pgpass is ignored: group or others may read it \(chmod 600 it\)/);
});
