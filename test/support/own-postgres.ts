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
  /** A streaming standby of this server (pg_basebackup), running on a port of its own. */
  standby(): Promise<OwnPostgres>;
  /** Promotes this standby to a primary; resolves once it accepts writes. */
  promote(): Promise<void>;
  /** Stops the server at once, without a checkpoint, as a host failure does. */
  crash(): Promise<void>;
  /** Stops the server for good and removes its directory. */
  destroy(): Promise<void>;
}

/** Initializes and starts a server of the test's own on a free port. */
export async function startOwnPostgres(): Promise<OwnPostgres> {
  const home = serverHome();
  const pwfile = join(home.dir, "pw");
  writeFileSync(pwfile, `${home.password}\n`, { mode: 0o600 });
  if (home.asRoot) chownSync(pwfile, postgresUser().uid, postgresUser().gid);
  await home.as(join(BIN, "initdb"), [
    "-D",
    home.data,
    "--username=postgres",
    `--pwfile=${pwfile}`,
    "--auth=scram-sha-256",
    "--encoding=UTF8",
    "--no-sync",
  ]);
  const server = await runServer(home);
  await withClient(server.admin, (c) => c.query("CREATE DATABASE jobguard"));
  return server.handle;
}

/** A directory for one server, owned by postgres when root, and how to run its commands. */
function serverHome(password = randomBytes(18).toString("hex")) {
  const dir = tempDir();
  const socketDir = join(dir, "socket");
  mkdirSync(socketDir);
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    chmodSync(dir, 0o755);
    const { uid, gid } = postgresUser();
    for (const path of [dir, socketDir]) chownSync(path, uid, gid);
  }
  const as = (cmd: string, args: string[], env: NodeJS.ProcessEnv = {}) =>
    run(asRoot ? "runuser" : cmd, asRoot ? ["-u", "postgres", "--", cmd, ...args] : args, {
      // Not the test's environment: TEST_OWNER would make killLeftovers SIGKILL the server.
      env: { PATH: process.env.PATH, LANG: "C", ...env },
    });
  return { dir, data: join(dir, "data"), socketDir, password, asRoot, as };
}

/** Starts the server whose data directory `home` holds, on a free port (settings appended last win). */
async function runServer(
  home: ReturnType<typeof serverHome>,
): Promise<{ handle: OwnPostgres; admin: string }> {
  const { dir, data, socketDir, password, asRoot, as } = home;
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
  const stopIn = async (mode: "fast" | "immediate") => {
    await pgCtl("-m", mode, "-w", "-t", "60", "stop");
    running = false;
  };
  const stop = () => stopIn("fast");
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

  const handle: OwnPostgres = {
    url,
    socketDir,
    port,
    stop,
    start,
    crash: () => stopIn("immediate"),
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
    async standby() {
      const copy = serverHome(password);
      // -R writes standby.signal and primary_conninfo; -X stream copies the WAL it needs meanwhile;
      // -c fast: a checkpoint now, not one spread over minutes.
      await copy.as(
        join(BIN, "pg_basebackup"),
        [
          "-D",
          copy.data,
          "-R",
          "-X",
          "stream",
          "-c",
          "fast",
          "-h",
          "127.0.0.1",
          "-p",
          String(port),
          "-U",
          "postgres",
        ],
        { PGPASSWORD: password },
      );
      return (await runServer(copy)).handle;
    },
    async promote() {
      await pgCtl("-w", "-t", "60", "promote");
      await waitFor(
        () =>
          withClient(
            admin,
            async (c) =>
              (await c.query<{ standby: boolean }>("SELECT pg_is_in_recovery() AS standby")).rows[0]
                ?.standby === false,
          ),
        { what: "the promoted standby to accept writes" },
      );
    },
    async destroy() {
      if (running) await stop().catch(onExit);
      process.off("exit", onExit);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return { handle, admin };
}

function postgresUser(): { uid: number; gid: number } {
  const id = (flag: string) =>
    Number(spawnSync("id", [flag, "postgres"], { encoding: "utf8" }).stdout.trim());
  const uid = id("-u");
  if (!Number.isInteger(uid) || uid <= 0)
    throw new Error("running as root needs a user postgres to run PostgreSQL");
  return { uid, gid: id("-g") };
}
