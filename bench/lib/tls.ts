import { spawnSync } from "node:child_process";
import { chownSync, mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { Client } from "../../src/postgres/client.js";
import { connectAsJobguard } from "../../src/db/connect.js";

// TLS on the bench's server, as on Heroku Postgres: rows 7 and 8 switch it on
// (jobguard's default sslmode, prefer, then uses it) and off again.

/** Switches TLS on with a fresh self-signed certificate; false where the server is not on this machine. */
export async function enableTls(client: Client): Promise<boolean> {
  const dataDir = (await client.query<{ data_directory: string }>("SHOW data_directory")).rows[0]!
    .data_directory;
  const owner = statSync(dataDir);
  const dir = mkdtempSync(join(tmpdir(), "jobguard-bench-"));
  const [cert, key] = [join(dir, "server.crt"), join(dir, "server.key")];
  const made = spawnSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=localhost",
      "-keyout",
      key,
      "-out",
      cert,
    ],
    { encoding: "utf8" },
  );
  if (made.status !== 0) throw new Error(`openssl failed: ${made.stderr.split("\n")[0]}`);
  for (const file of [dir, cert, key]) chownSync(file, owner.uid, owner.gid);
  await client.query(`ALTER SYSTEM SET ssl_cert_file = ${client.escapeLiteral(cert)}`);
  await client.query(`ALTER SYSTEM SET ssl_key_file = ${client.escapeLiteral(key)}`);
  await client.query("ALTER SYSTEM SET ssl = on");
  await client.query("SELECT pg_reload_conf()");
  await sleep(500);
  return true;
}

export async function disableTls(client: Client): Promise<void> {
  for (const name of ["ssl", "ssl_cert_file", "ssl_key_file"])
    await client.query(`ALTER SYSTEM RESET ${name}`);
  await client.query("SELECT pg_reload_conf()");
}

/** Whether a connection opened as jobguard opens its own is encrypted. */
export async function usesTls(url: string): Promise<boolean> {
  const c = await connectAsJobguard(url, process.env, 10_000);
  try {
    return (
      (await c.query<{ ssl: boolean }>("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")).rows[0]
        ?.ssl === true
    );
  } finally {
    await c.end();
  }
}
