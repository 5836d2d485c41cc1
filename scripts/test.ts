/**
 * Test runner behind `npm test`: provides a PostgreSQL (TEST_DATABASE_URL, or an embedded
 * server in a temp dir), then runs `node --test` on the test files under build/test/.
 * Usage: node build/scripts/test.js [node-test-flag | path | word]...
 *   a path that exists (test/queues/que, test/cli.test.ts, build/test/unit) runs the test files at or under it;
 *   any other word runs the files whose path under test/ contains it (queues/solid-queue, unit, sweep).
 * Without a path or a word (the whole suite, as CI runs it) `npm run lint` runs first, and
 * its failure fails the run, so that CI fails on a lint error or a file prettier would change.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { constants } from "node:os";
import { isAbsolute, join, relative, resolve, sep } from "node:path";
import { describeDatabase } from "../src/db/redact.js";
import { startEmbeddedPostgres, type EmbeddedServer } from "../tools/embedded-postgres.js";
import { REPO_ROOT } from "../tools/repo.js";

const BUILD_TEST = join(REPO_ROOT, "build", "test");
const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/**
 * Splits argv into node flags (start with "-") and the test files the other arguments
 * select (see the top); `whole` when no argument selects, so every file runs.
 */
function selectTestFiles(args: string[]): { nodeFlags: string[]; files: string[]; whole: boolean } {
  const all = testFiles();
  const nodeFlags = args.filter((a) => a.startsWith("-"));
  const filters = args.filter((a) => !a.startsWith("-"));
  if (filters.length === 0)
    return { nodeFlags, files: all.map((f) => join("build", "test", f)), whole: true };
  const files = filters.flatMap((arg) => {
    const hits = selectedBy(arg, all);
    if (hits.length === 0) throw new Error(`no test file matches "${arg}" in build/test`);
    return hits;
  });
  return { nodeFlags, files: [...new Set(files)], whole: false };
}

/** Every compiled test file, by its path under build/test/ ("queues/que/release.test.js"), sorted. */
function testFiles(): string[] {
  if (!existsSync(BUILD_TEST)) return [];
  return readdirSync(BUILD_TEST, { recursive: true, encoding: "utf8" })
    .map((f) => f.split(sep).join("/"))
    .filter((f) => f.endsWith(".test.js"))
    .sort();
}

/** The files (to pass to node) that one argument selects: by path, or by a word in their path. */
function selectedBy(arg: string, all: string[]): string[] {
  const path = resolve(arg);
  if (existsSync(path)) {
    const under = testPathOf(path);
    if (under !== undefined)
      return all
        .filter((f) => under === "" || f === under || f.startsWith(`${under}/`))
        .map((f) => join("build", "test", f));
    if (statSync(path).isFile()) return [path]; // a test file elsewhere, run as it is
  }
  const word = arg.replace(/\.(ts|js)$/, "");
  return all.filter((f) => f.includes(word)).map((f) => join("build", "test", f));
}

/** Where an existing path lies under test/ or build/test/ ("" for either folder itself), a source file named as the file it compiles to; undefined outside both. */
function testPathOf(path: string): string | undefined {
  for (const root of [BUILD_TEST, join(REPO_ROOT, "test")]) {
    const rel = relative(root, path);
    if (rel === ".." || rel.startsWith(`..${sep}`) || isAbsolute(rel)) continue;
    return rel.split(sep).join("/").replace(/\.ts$/, ".js");
  }
  return undefined;
}

async function main(): Promise<number> {
  const { nodeFlags, files, whole } = selectTestFiles(process.argv.slice(2));
  if (files.length === 0) throw new Error("no test files under build/test (did tsc run?)");

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
  /** Runs a child in the repository, its output on ours, as the one our signals go to; resolves its exit status. */
  const run = async (command: string, args: string[], env = process.env): Promise<number> => {
    const running = spawn(command, args, { cwd: REPO_ROOT, stdio: "inherit", env });
    child = running;
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((res, rej) => {
      running.on("error", rej);
      running.on("exit", (c, s) => res([c, s]));
    });
    return code ?? 128 + (signal ? constants.signals[signal] : 0);
  };

  if (whole) {
    // eslint, then prettier --check; npm_execpath is the npm that runs `npm test`.
    const npm = process.env.npm_execpath;
    const status = await (npm ? run(process.execPath, [npm, "run", "lint"]) : run("npm", ["run", "lint"]));
    if (interrupted) return 128 + constants.signals[interrupted];
    if (status !== 0) {
      console.error(
        "jobguard tests: npm run lint failed, so the suite did not run (npm test -- test runs the suite without it)",
      );
      return status;
    }
  }

  let db: EmbeddedServer | undefined;
  let url = process.env.TEST_DATABASE_URL;
  if (url) {
    console.log(`jobguard tests: database ${describeDatabase(url)} (from TEST_DATABASE_URL)`);
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
      `jobguard tests: database ${describeDatabase(url)} (embedded PostgreSQL, started in ${((performance.now() - t0) / 1000).toFixed(1)} s)`,
    );
  }

  try {
    if (interrupted) return 128 + constants.signals[interrupted];
    return await run(process.execPath, ["--test", "--test-concurrency=2", ...nodeFlags, ...files], {
      ...process.env,
      TEST_DATABASE_URL: url,
    });
  } finally {
    await db?.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`jobguard tests: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
