import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, chownSync, existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { withClient } from "../../tools/db.js";
import { freePort } from "../../tools/free-port.js";
import { tempDir } from "./jobguard.js";
import { waitFor } from "./wait.js";

const PGBOUNCER = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"].find(existsSync);

/** Why the PgBouncer tests cannot run here (their switch: JOBGUARD_REQUIRE_PGBOUNCER), or null. */
export function pgbouncerSkipReason(): string | null {
  return PGBOUNCER ? null : "pgbouncer is not installed (Debian's pgbouncer package)";
}

/** A running PgBouncer in front of one database. */
export interface Pgbouncer {
  /** The database's URL through PgBouncer (same user, password and name). */
  url: string;
  stop(): Promise<void>;
}

/**
 * Starts PgBouncer in `mode` on a free port, in a directory of its own, in
 * front of the database at `direct`. Clients are trusted; PgBouncer logs in
 * to PostgreSQL with the URL's password. As root it runs as `postgres`
 * (PgBouncer refuses to run as root). `poolSize` server connections at most,
 * so that tests can make clients share them. With `serverSocketDir`,
 * PgBouncer reaches PostgreSQL over its Unix socket there, as a pooler on
 * another host would: its server connections show another client address.
 */
export async function startPgbouncer(
  direct: string,
  options: { mode?: "transaction" | "session"; poolSize?: number; serverSocketDir?: string } = {},
): Promise<Pgbouncer> {
  const target = new URL(direct);
  const dir = tempDir();
  const port = await freePort();
  const config = join(dir, "pgbouncer.ini");
  const user = decodeURIComponent(target.username);
  writeFileSync(join(dir, "users.txt"), `"${user}" ""\n`);
  writeFileSync(
    config,
    [
      "[databases]",
      `* = host=${options.serverSocketDir ?? target.hostname} port=${target.port || 5432} user=${user} password=${decodeURIComponent(target.password)}`,
      "[pgbouncer]",
      "listen_addr = 127.0.0.1",
      `listen_port = ${port}`,
      `unix_socket_dir =`,
      "auth_type = trust",
      `auth_file = ${join(dir, "users.txt")}`,
      `pool_mode = ${options.mode ?? "transaction"}`,
      `default_pool_size = ${options.poolSize ?? 5}`,
      "max_client_conn = 200",
      `logfile = ${join(dir, "pgbouncer.log")}`,
      "",
    ].join("\n"),
    { mode: 0o600 },
  );
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    chmodSync(dir, 0o755);
    const ids = spawnSync("id", ["-u", "postgres"], { encoding: "utf8" });
    const uid = Number(ids.stdout.trim());
    const gid = Number(spawnSync("id", ["-g", "postgres"], { encoding: "utf8" }).stdout.trim());
    for (const file of [dir, config, join(dir, "users.txt")]) chownSync(file, uid, gid);
  }
  const child: ChildProcess = spawn(PGBOUNCER!, [...(asRoot ? ["-u", "postgres"] : []), config], {
    stdio: "ignore",
  });
  const url = new URL(direct);
  url.port = String(port);
  url.hostname = "127.0.0.1";
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  // A PgBouncer that never answers, or answers only SIGKILL, must fail the
  // test, not hang it: the child process would keep this file's test process
  // alive, and with it the whole run.
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await exited;
  };
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null)
          throw new Error(`pgbouncer exited with ${child.exitCode}; see ${join(dir, "pgbouncer.log")}`);
        return answers(url.toString());
      },
      { timeoutMs: 20_000, what: `pgbouncer to accept connections (log: ${join(dir, "pgbouncer.log")})` },
    );
  } catch (error) {
    await kill();
    throw error;
  }
  return {
    url: url.toString(),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      // SIGINT waits for the clients' queries to end; a client a test left stuck would make it wait for ever.
      child.kill("SIGINT");
      const late = setTimeout(() => void kill(), 5_000);
      await exited;
      clearTimeout(late);
    },
  };
}

/** Whether a query through this URL answers within 2 s: a probe that cannot stall the wait for readiness. */
function answers(url: string): Promise<boolean> {
  return withClient(url, async (c) => (await c.query<{ ok: number }>("SELECT 1 AS ok")).rows[0]?.ok === 1, {
    connectionTimeoutMillis: 2_000,
    query_timeout: 2_000,
  }).catch(() => false);
}
