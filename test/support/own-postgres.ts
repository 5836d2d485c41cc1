import { execFile, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { appendFileSync, chmodSync, chownSync, existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { withClient } from "../../tools/db.js";
import { freePort } from "../../tools/free-port.js";
import { tempDir } from "./jobguard.js";
import { waitFor } from "./wait.js";

// A PostgreSQL of the test's own, which it may stop, restart and cut its
// sessions off: the test server (TEST_DATABASE_URL) is shared by every test
// file and must never go down. Debian's PostgreSQL 15, run by pg_ctl as user
// postgres when the tests run as root (PostgreSQL refuses to run as root).

const BIN = "/usr/lib/postgresql/15/bin";
const run = promisify(execFile);

/** Why a test cannot start a PostgreSQL of its own here, or null when it can. */
export function ownPostgresSkipReason(): string | null {
  return existsSync(join(BIN, "pg_ctl")) ? null : `no ${BIN}/pg_ctl (apt-get install postgresql-15)`;
}

/** A running server of the test's own, with a database `jobguard`. */
export interface OwnPostgres {
  /** The database `jobguard` over TCP on 127.0.0.1, with a password that must never show in a log. */
  url: string;
  /** The same database through the server's Unix socket directory (for a pooler that must look remote). */
  socketDir: string;
  port: number;
  /** A fast shutdown (every session ended, as a maintenance does); waits until the server is down. */
  stop(): Promise<void>;
  /** Starts it again; waits until it accepts connections. */
  start(): Promise<void>;
  /** stop(), `downMs` with no server at all, start(). */
  restart(downMs: number): Promise<void>;
  /** Ends every other session, as pg_terminate_backend does during a failover or a maintenance; how many. */
  terminateAll(): Promise<number>;
  /** Sets idle_session_timeout for every new and open session (0: off), with a reload. */
  setIdleSessionTimeout(ms: number): Promise<void>;
  /** Stops the server for good and removes its directory. */
  destroy(): Promise<void>;
}

/** Initializes and starts a server of the test's own on a free port. */
export async function startOwnPostgres(): Promise<OwnPostgres> {
  const dir = tempDir();
  const data = join(dir, "data");
  const socketDir = join(dir, "socket");
  mkdirSync(socketDir);
  const password = randomBytes(18).toString("hex");
  const pwfile = join(dir, "pw");
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    chmodSync(dir, 0o755);
    const { uid, gid } = postgresUser();
    for (const path of [dir, socketDir, pwfile]) chownSync(path, uid, gid);
  }
  const as = (cmd: string, args: string[]) =>
    run(asRoot ? "runuser" : cmd, asRoot ? ["-u", "postgres", "--", cmd, ...args] : args, {
      // Not the test's environment: TEST_OWNER would make killLeftovers SIGKILL the server.
      env: { PATH: process.env.PATH, LANG: "C" },
    });
  await as(join(BIN, "initdb"), [
    "-D",
    data,
    "--username=postgres",
    `--pwfile=${pwfile}`,
    "--auth=scram-sha-256",
    "--encoding=UTF8",
    "--no-sync",
  ]);
  const port = await freePort();
  const settings = [
    "listen_addresses = '127.0.0.1'",
    `port = ${port}`,
    `unix_socket_directories = '${socketDir}'`,
    "fsync = off",
    "synchronous_commit = off",
    "full_page_writes = off",
    "max_connections = 100",
    "shared_buffers = 16MB",
  ];
  appendFileSync(join(data, "postgresql.conf"), settings.join("\n") + "\n");
  const pgCtl = (...args: string[]) => as(join(BIN, "pg_ctl"), ["-D", data, ...args]);
  const url = `postgres://postgres:${password}@127.0.0.1:${port}/jobguard`;
  const admin = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;

  let running = false;
  const start = async () => {
    await pgCtl("-l", join(dir, "server.log"), "-w", "-t", "60", "start");
    running = true;
  };
  const stop = async () => {
    await pgCtl("-m", "fast", "-w", "-t", "60", "stop");
    running = false;
  };
  // A test that dies half-way must not leave its server running.
  const onExit = () => {
    if (running)
      spawnSync(asRoot ? "runuser" : join(BIN, "pg_ctl"), [
        ...(asRoot ? ["-u", "postgres", "--", join(BIN, "pg_ctl")] : []),
        ...["-D", data, "-m", "immediate", "stop"],
      ]);
  };
  process.on("exit", onExit);

  await start();
  await withClient(admin, (c) => c.query("CREATE DATABASE jobguard"));
  return {
    url,
    socketDir,
    port,
    stop,
    start,
    async restart(downMs) {
      await stop();
      await sleep(downMs);
      await start();
    },
    async terminateAll() {
      return withClient(admin, async (c) => {
        const { rows } = await c.query<{ n: number }>(
          `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n
             FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'`,
        );
        return rows[0]!.n;
      });
    },
    async setIdleSessionTimeout(ms) {
      await withClient(admin, async (c) => {
        await c.query(`ALTER SYSTEM SET idle_session_timeout = ${Math.round(ms)}`);
        await c.query("SELECT pg_reload_conf()");
      });
      // The reload reaches each backend at its next command: wait until a new session sees it.
      await waitFor(
        () =>
          withClient(
            admin,
            async (c) =>
              (
                await c.query<{ v: string }>(
                  "SELECT setting AS v FROM pg_settings WHERE name = 'idle_session_timeout'",
                )
              ).rows[0]?.v === String(Math.round(ms)),
          ),
        { what: `idle_session_timeout to be ${ms} ms` },
      );
    },
    async destroy() {
      if (running) await stop().catch(onExit);
      process.off("exit", onExit);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function postgresUser(): { uid: number; gid: number } {
  const id = (flag: string) =>
    Number(spawnSync("id", [flag, "postgres"], { encoding: "utf8" }).stdout.trim());
  const uid = id("-u");
  if (!Number.isInteger(uid) || uid <= 0)
    throw new Error("running as root needs a user postgres to run PostgreSQL");
  return { uid, gid: id("-g") };
}
