import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chownSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo, type Socket } from "node:net";
import { join } from "node:path";
import { after, before, test, type TestContext } from "node:test";
import { withClient } from "../../tools/db.js";
import { connect } from "../../src/db/connect.js";
import { ownPostgresSkipReason, startOwnPostgres, type OwnPostgres } from "../support/own-postgres.js";
import { tempDir } from "../support/jobguard.js";
import { prerequisite } from "../support/prerequisites.js";
import { waitFor } from "../support/wait.js";

// jobguard's own PostgreSQL client (src/postgres/) against a real server of the
// test's own, with TLS on, as Heroku Postgres has it: each way of logging in
// the client knows (SCRAM, md5, a password in clear), each sslmode, and a
// wrong password. test/unit/postgres/wire.test.ts has the protocol's details.

let server: OwnPostgres | undefined;

before(async () => {
  if (ownPostgresSkipReason()) return;
  server = await startOwnPostgres();
  await withClient(server.url, async (c) => {
    const dataDir = (await c.query<{ d: string }>("SELECT current_setting('data_directory') AS d")).rows[0]!
      .d;
    const hbaFile = (await c.query<{ f: string }>("SELECT current_setting('hba_file') AS f")).rows[0]!.f;
    const owner = statSync(dataDir);
    const dir = tempDir();
    const [cert, key] = [join(dir, "server.crt"), join(dir, "server.key")];
    const made = spawnSync(
      "openssl",
      ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"].concat([
        "-keyout",
        key,
        "-out",
        cert,
      ]),
      { encoding: "utf8" },
    );
    assert.equal(made.status, 0, made.stderr);
    for (const file of [dir, cert, key]) chownSync(file, owner.uid, owner.gid);
    await c.query(`ALTER SYSTEM SET ssl_cert_file = ${c.escapeLiteral(cert)}`);
    await c.query(`ALTER SYSTEM SET ssl_key_file = ${c.escapeLiteral(key)}`);
    await c.query("ALTER SYSTEM SET ssl = on");
    // md5 and clear-text logins for two roles of their own; the first matching line wins.
    await c.query("SET password_encryption = md5");
    await c.query("CREATE ROLE by_md5 LOGIN PASSWORD 'md5-secret'");
    await c.query("RESET password_encryption");
    await c.query("CREATE ROLE in_clear LOGIN PASSWORD 'clear-secret'");
    const lines = "host all by_md5 127.0.0.1/32 md5\nhost all in_clear 127.0.0.1/32 password\n";
    writeFileSync(hbaFile, lines + readFileSync(hbaFile, "utf8"));
    await c.query("SELECT pg_reload_conf()");
  });
  // The postmaster reads the reload when it gets to it.
  const own = server;
  await waitFor(
    () =>
      session(urlOf(own, "in_clear", "clear-secret", "?sslmode=require")).then(
        () => true,
        () => false,
      ),
    {
      what: "the server to take TLS and the new logins",
    },
  );
});
after(() => server?.destroy());

function ready(t: TestContext): OwnPostgres | undefined {
  return prerequisite(t, "JOBGUARD_REQUIRE_OWN_POSTGRES", ownPostgresSkipReason()) ? server : undefined;
}

/** The URL of the test's server as `user:password`, with these parameters. */
function urlOf(own: OwnPostgres, user: string | null, password: string | null, params: string): string {
  const url = new URL(own.url);
  if (user !== null) url.username = user;
  if (password !== null) url.password = password;
  url.search = params;
  return url.toString();
}

/** Connects, and says whether the session is encrypted and who it is. */
async function session(url: string): Promise<{ ssl: boolean; user: string }> {
  const client = await connect(url, {}, { timeoutMs: 10_000 });
  try {
    const { rows } = await client.query<{ ssl: boolean; user: string }>(
      "SELECT s.ssl, current_user AS user FROM pg_stat_ssl s WHERE s.pid = pg_backend_pid()",
    );
    return rows[0]!;
  } finally {
    await client.end();
  }
}

test("SCRAM-SHA-256 under each sslmode: prefer and require encrypt, disable does not, verify-full refuses a self-signed certificate; a server without TLS: prefer goes on in plain text, require refuses", async (t) => {
  const own = ready(t);
  if (!own) return;
  assert.deepEqual(await session(urlOf(own, null, null, "")), { ssl: true, user: "postgres" });
  assert.deepEqual(await session(urlOf(own, null, null, "?sslmode=require")), {
    ssl: true,
    user: "postgres",
  });
  assert.deepEqual(await session(urlOf(own, null, null, "?sslmode=disable")), {
    ssl: false,
    user: "postgres",
  });
  await assert.rejects(session(urlOf(own, null, null, "?sslmode=verify-full")), /self[- ]signed certificate/);
  // A server without TLS (the test server) declines the SSLRequest: prefer goes on in plain text on the same connection.
  const plain = new URL(process.env.TEST_DATABASE_URL!);
  plain.search = "?sslmode=prefer";
  assert.equal((await session(plain.toString())).ssl, false);
  plain.search = "?sslmode=require";
  await assert.rejects(session(plain.toString()), /the server does not support SSL connections/);
});

test("md5 and a password in clear log in; a wrong password is refused with 28P01, and the error does not hold it", async (t) => {
  const own = ready(t);
  if (!own) return;
  assert.deepEqual(await session(urlOf(own, "by_md5", "md5-secret", "?sslmode=require")), {
    ssl: true,
    user: "by_md5",
  });
  assert.deepEqual(await session(urlOf(own, "in_clear", "clear-secret", "?sslmode=require")), {
    ssl: true,
    user: "in_clear",
  });
  for (const user of ["postgres", "by_md5", "in_clear"]) {
    const wrong: Error & { code?: string } = await session(
      urlOf(own, user, "not-it", "?sslmode=disable"),
    ).then(
      () => assert.fail(`${user} logged in with a wrong password`),
      (error: Error & { code?: string }) => error,
    );
    assert.equal(wrong.code, "28P01", `${user}: ${wrong.message}`);
    assert.doesNotMatch(wrong.message, /not-it/);
  }
});

/** A message of the server's: type, Int32 length, body. */
function serverMessage(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type);
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

test("a server that says AuthenticationOk in the middle of SCRAM, without its proof, is refused", async () => {
  const int32 = (n: number) => Buffer.from([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
  const impostor = createServer((socket) => {
    socket.on("error", () => {});
    let step = 0;
    socket.on("data", () => {
      // First the startup message, then the SASL initial response.
      if (step++ === 0)
        socket.write(serverMessage("R", Buffer.concat([int32(10), Buffer.from("SCRAM-SHA-256\0\0")])));
      else socket.write(Buffer.concat([serverMessage("R", int32(0)), serverMessage("Z", Buffer.from("I"))]));
    });
  });
  await new Promise<void>((listening) => impostor.listen(0, "127.0.0.1", listening));
  try {
    const { port } = impostor.address() as AddressInfo;
    await assert.rejects(
      connect(`postgres://u:secret@127.0.0.1:${port}/db?sslmode=disable`, {}, { timeoutMs: 5000 }),
      /SCRAM: the server broke off the exchange/,
    );
  } finally {
    impostor.close();
  }
});

test("a server that accepts and never answers: connect fails at its time limit, ETIMEDOUT, and nothing is left open", async () => {
  const sockets: Socket[] = [];
  const silent = createServer((socket) => {
    socket.on("error", () => {});
    // Reads (and ignores) what comes: a paused socket would never see the client's close.
    socket.resume();
    sockets.push(socket);
  });
  await new Promise<void>((listening) => silent.listen(0, "127.0.0.1", listening));
  try {
    const { port } = silent.address() as AddressInfo;
    const error: Error & { code?: string } = await connect(
      `postgres://u:secret@127.0.0.1:${port}/db`,
      {},
      { timeoutMs: 300 },
    ).then(
      () => assert.fail("connected to a silent server"),
      (e: Error) => e,
    );
    assert.match(error.message, /connecting timed out after 300 ms/);
    assert.equal(error.code, "ETIMEDOUT");
    // The client dropped its socket: the server sees it closed.
    await waitFor(() => sockets.length === 1 && sockets[0]!.closed, { what: "the client's socket to close" });
  } finally {
    for (const socket of sockets) socket.destroy();
    silent.close();
  }
});
