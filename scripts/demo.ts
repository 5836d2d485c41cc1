/**
 * `npm run demo`: a delayed_job worker is in the middle of a long job when Heroku restarts its
 * dyno. Without jobguard the job stays locked by the dead worker; with jobguard it is released
 * and the next worker takes it at once.
 *
 * Uses DATABASE_URL when set (in a table of its own, dropped at the end), otherwise an embedded
 * PostgreSQL it starts and stops itself. scripts/demo-worker.ts is the small Node
 * stand-in for delayed_job's `rake jobs:work` that the demo runs, so no Ruby is needed.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { constants } from "node:os";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import type { Connection as Client } from "../src/postgres/client.js";
import { connect } from "../src/db/connect.js";
import { describeDatabase, safeMessage } from "../src/db/redact.js";
import { delayedJobsTableSql } from "../tools/delayed-jobs-table.js";
import { startEmbeddedPostgres, type EmbeddedServer } from "../tools/embedded-postgres.js";
import { withoutJobguardSettings } from "../tools/env.js";
import { descendantsOf, isAlive } from "../tools/processes.js";
import { JOBGUARD } from "../tools/repo.js";
import type { WorkerEvent } from "./demo-worker.js";

const SELF = fileURLToPath(import.meta.url);
const WORKER = join(dirname(SELF), "demo-worker.js");

// Time is compressed: Heroku gives a dyno 30 s between SIGTERM and SIGKILL.
const HEROKU_GRACE_S = 3;
const JOBGUARD_DEADLINE_S = 2;
const JOB_SECONDS = 60;
const POLL_MS = 200; // delayed_job's sleep_delay, 5 s by default
const WATCH_MS = 2000; // how long scenario A watches the fresh worker ignore the job

// ─── the demo ────────────────────────────────────────────────────────────────────────────────

// After Ctrl-C the scenario may still run on for a moment while the demo cleans up: it says no more.
let interrupted: NodeJS.Signals | undefined;
const say = (line = "") => void (interrupted || process.stdout.write(`${line}\n`));
const indent = (line: string) => say(`    ${line}`);
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** A process the demo started: a bare worker, or jobguard with its worker. */
interface Proc {
  child: ChildProcess;
  /** jobguard with its worker, rather than a bare worker. */
  underJobguard: boolean;
  pid: number;
  events: WorkerEvent[];
  stderrLines: { line: string; at: number }[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  waitEvent(match: (e: WorkerEvent) => boolean, timeoutMs: number): Promise<WorkerEvent | undefined>;
  waitStderr(pattern: RegExp, timeoutMs: number): Promise<{ line: string; at: number } | undefined>;
}

const started: Proc[] = [];

function startProc(args: string[], env: NodeJS.ProcessEnv, showStderr: (line: string) => void): Proc {
  const child = spawn(process.execPath, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  const events: WorkerEvent[] = [];
  const stderrLines: { line: string; at: number }[] = [];
  lines(child.stdout, (line) => {
    let e: WorkerEvent;
    try {
      e = JSON.parse(line) as WorkerEvent;
    } catch {
      indent(line);
      return;
    }
    const repeat = e.ev === "signal" && events.some((seen) => seen.ev === "signal" && seen.pid === e.pid);
    events.push(e);
    if (e.ev === "signal") {
      indent(
        e.job === undefined
          ? `(worker ${e.pid} got ${e.signal} while idle and exits)`
          : `(worker ${e.pid} got ${e.signal}: like delayed_job, it keeps working job #${e.job} until it is done)`,
      );
      // Under jobguard on Cedar the second is the fail-safe (README, "What happens on a restart", step 3).
      if (repeat && proc.underJobguard)
        indent(
          "(this second SIGTERM is jobguard's fail-safe, not a repeat of Heroku's: on Cedar jobguard forwards nothing, " +
            "since Heroku signals every process, but shortly before its deadline it sends the worker one SIGTERM anyway, " +
            "in case the platform signalled jobguard alone; to delayed_job it is the same request again)",
        );
    }
  });
  lines(child.stderr, (line) => {
    stderrLines.push({ line, at: Date.now() });
    showStderr(line);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((done) => {
    child.on("error", () => done({ code: null, signal: null, at: Date.now() }));
    child.on("close", (code, signal) => done({ code, signal, at: Date.now() }));
  });
  const proc: Proc = {
    child,
    underJobguard: args[0] === JOBGUARD,
    pid: child.pid ?? -1,
    events,
    stderrLines,
    exited,
    async waitEvent(match, timeoutMs) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const found = events.find(match);
        if (found || Date.now() > until) return found;
        await sleep(10);
      }
    },
    async waitStderr(pattern, timeoutMs) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const found = stderrLines.find((l) => pattern.test(l.line));
        if (found || Date.now() > until) return found;
        await sleep(10);
      }
    },
  };
  started.push(proc);
  return proc;
}

function lines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let buffer = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      onLine(buffer.slice(0, nl));
      buffer = buffer.slice(nl + 1);
    }
  });
  stream.on("end", () => buffer && onLine(buffer));
}

/** The pid and every living descendant of it, while it runs. */
function treeOf(pid: number): number[] {
  return isAlive(pid) ? [pid, ...descendantsOf(pid)] : [];
}

function signalAll(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

/** The environment of the processes the demo starts: its database and table, nothing jobguard-related from the caller's. */
function childEnv(url: string, table: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...withoutJobguardSettings(),
    DATABASE_URL: url,
    DEMO_TABLE: table,
    DEMO_POLL_MS: String(POLL_MS),
    ...extra,
  };
}

/** In someone's database, jobguard's own tables (the lease and its rescue counts) are the demo's too, and go with it. */
function leaseTable(table: string): string {
  return `${table}_leases`;
}

async function createTable(db: Client, table: string): Promise<void> {
  for (const statement of delayedJobsTableSql(table)) await db.query(statement);
}

async function lockedBy(db: Client, table: string, id: number): Promise<string | null | undefined> {
  const { rows } = await db.query<{ locked_by: string | null }>(
    `SELECT locked_by FROM ${table} WHERE id = $1`,
    [id],
  );
  return rows.length ? rows[0]!.locked_by : undefined;
}

async function demo(url: string, table: string, db: Client): Promise<number> {
  const problems: string[] = [];
  const expect = (ok: boolean, problem: string) => {
    if (!ok) problems.push(problem);
    return ok;
  };

  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO ${table} (handler, run_at, created_at, updated_at)
     VALUES ($1, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC') RETURNING id`,
    [`--- !ruby/object:DemoReportJob\nseconds: ${JOB_SECONDS}\n`],
  );
  const id = Number(rows[0]!.id);
  const workerArgs = [WORKER];
  say(`Job #${id}, which takes ${JOB_SECONDS} s, is queued in table ${table}.`);

  // ── A ──
  say();
  say("A. Without jobguard");
  const a1 = startProc(workerArgs, childEnv(url, table), (l) => indent(l));
  const lockA = await a1.waitEvent((e) => e.ev === "locked", 10_000);
  if (!lockA) throw new Error(`the worker never locked job #${id}`);
  say(`  Worker ${a1.pid} locked job #${id} (locked_by = "${lockA.lockedBy}") and is working on it.`);
  say(
    `  Heroku restarts the dyno: SIGTERM to every process, SIGKILL ${HEROKU_GRACE_S} s later to what is left.`,
  );
  signalAll(treeOf(a1.pid), "SIGTERM");
  const exitA = await Promise.race([a1.exited, sleep(HEROKU_GRACE_S * 1000).then(() => undefined)]);
  if (exitA) {
    expect(false, `A: the worker exited on SIGTERM (code ${exitA.code}) instead of working on`);
  } else {
    signalAll(treeOf(a1.pid), "SIGKILL");
    await a1.exited;
    say(`  The job was still running after ${HEROKU_GRACE_S} s, so the worker was SIGKILLed mid-job.`);
  }
  const a2 = startProc(workerArgs, childEnv(url, table), (l) => indent(l));
  say(`  The new dyno's worker ${a2.pid} starts.`);
  await a2.waitEvent((e) => e.ev === "ready", 10_000);
  await sleep(WATCH_MS);
  const stuck = await lockedBy(db, table, id);
  const tookA = a2.events.find((e) => e.ev === "locked");
  const aStuck = expect(
    stuck === lockA.lockedBy && !tookA,
    `A: expected job #${id} to stay locked by "${lockA.lockedBy}", found ${JSON.stringify(stuck)}`,
  );
  if (aStuck) {
    say(
      `  ${secs(WATCH_MS)} later job #${id} is still locked by "${stuck}", a process that no longer exists,`,
    );
    say(
      `  and worker ${a2.pid} leaves it alone: delayed_job takes a locked job only after max_run_time, 4 hours by default.`,
    );
  }
  signalAll([a2.pid], "SIGTERM");
  await Promise.race([a2.exited, sleep(3000)]);
  signalAll(treeOf(a2.pid), "SIGKILL");
  await a2.exited;

  // ── B ──
  say();
  say("B. With jobguard");
  await db.query(`UPDATE ${table} SET locked_at = NULL, locked_by = NULL WHERE id = $1`, [id]);
  say(`  Job #${id} is unlocked by hand for a second try.`);
  const tableVar =
    table === "delayed_jobs" ? "" : ` JOBGUARD_TABLE=${table} JOBGUARD_LEASE_TABLE=${leaseTable(table)}`;
  say(`  $ DYNO=worker.1 JOBGUARD_QUEUE=delayed_job${tableVar} DATABASE_URL=... \\`);
  say(`      jobguard --deadline ${JOBGUARD_DEADLINE_S} --grace ${HEROKU_GRACE_S} -- node demo-worker.js`);
  const jg = startProc(
    [
      JOBGUARD,
      "--deadline",
      String(JOBGUARD_DEADLINE_S),
      "--grace",
      String(HEROKU_GRACE_S),
      "--",
      process.execPath,
      ...workerArgs,
    ],
    childEnv(url, table, {
      DYNO: "worker.1",
      JOBGUARD_QUEUE: "delayed_job",
      ...(tableVar ? { JOBGUARD_TABLE: table, JOBGUARD_LEASE_TABLE: leaseTable(table) } : {}),
    }),
    (l) => indent(l),
  );
  const lockB = await jg.waitEvent((e) => e.ev === "locked", 10_000);
  if (!lockB) throw new Error(`the worker under jobguard never locked job #${id}`);
  say(`  Worker ${lockB.pid}, run by jobguard, locked job #${id} (locked_by = "${lockB.lockedBy}").`);
  say(
    `  Heroku restarts the dyno: SIGTERM to jobguard and the worker, SIGKILL ${HEROKU_GRACE_S} s later to what is left.`,
  );
  const oldDyno = new Set(treeOf(jg.pid));
  const restartAt = Date.now();
  signalAll([...oldDyno], "SIGTERM");
  const b2 = startProc(workerArgs, childEnv(url, table), (l) => indent(l));
  say(`  The new dyno's worker ${b2.pid} starts at once and polls for jobs.`);
  const exitB = await Promise.race([jg.exited, sleep(HEROKU_GRACE_S * 1000).then(() => undefined)]);
  if (!exitB) {
    for (const pid of treeOf(jg.pid)) oldDyno.add(pid);
    signalAll([...oldDyno], "SIGKILL");
    expect(
      false,
      `B: jobguard was still running when Heroku's SIGKILL came ${HEROKU_GRACE_S} s after the restart`,
    );
    await jg.exited;
  } else {
    expect(
      exitB.code === 124,
      `B: jobguard exited with ${exitB.code ?? exitB.signal}, expected 124 (worker killed at the deadline)`,
    );
  }
  const released = await jg.waitStderr(/event=locks_released/, 100);
  const releasedJob = !!released && new RegExp(`\\bids=(?:\\S*,)?${id}(?:[,\\s]|$)`).test(released.line);
  expect(releasedJob, `B: jobguard did not log the release of job #${id}`);
  const tookB = await b2.waitEvent((e) => e.ev === "locked" && e.job === id, 2000);
  let releaseToTake: number | undefined;
  if (released && releasedJob) {
    say(
      `  jobguard killed the worker at its ${JOBGUARD_DEADLINE_S} s deadline and released job #${id} ` +
        `${secs(released.at - restartAt)} after the restart, before Heroku's SIGKILL.`,
    );
  }
  if (tookB && released) {
    // The worker stamps its lock itself; the release is stamped when its log line reaches the demo, a little late.
    releaseToTake = Math.max(0, tookB.at - released.at);
    const owner = await lockedBy(db, table, id);
    expect(
      owner === tookB.lockedBy,
      `B: job #${id} is locked by ${JSON.stringify(owner)}, expected the new worker`,
    );
    expect(
      releaseToTake < 1000,
      `B: the new worker took job #${id} only ${secs(releaseToTake)} after the release`,
    );
    say(
      `  Job #${id} was taken by the next worker (${b2.pid}) ${secs(releaseToTake)} after the release, ` +
        `${secs(tookB.at - restartAt)} after the restart.`,
    );
  } else {
    expect(false, `B: the new worker did not take job #${id} within 2 s of jobguard's exit`);
  }
  signalAll(treeOf(b2.pid), "SIGKILL");
  await b2.exited;

  say();
  if (problems.length === 0 && released && tookB && releaseToTake !== undefined) {
    say(
      `Summary: without jobguard job #${id} stayed locked by a dead worker (for up to 4 hours); with jobguard it was ` +
        `released ${secs(released.at - restartAt)} after the restart and taken by the next worker ${secs(releaseToTake)} later.`,
    );
    return 0;
  }
  say("The demo did not go as expected:");
  for (const p of problems) say(`  - ${p}`);
  return 1;
}

let databaseUrl = process.env.DATABASE_URL || undefined;

/** An error's message without the database URL or its password. */
function hideUrl(error: unknown): string {
  return databaseUrl
    ? safeMessage(error, databaseUrl)
    : error instanceof Error
      ? error.message
      : String(error);
}

async function main(): Promise<number> {
  let db: Client | undefined;
  let server: EmbeddedServer | undefined;
  let table: string | undefined;
  let dropTable = false;

  let cleaning: Promise<void> | undefined;
  const cleanup = () =>
    (cleaning ??= (async () => {
      const pids = started.flatMap((p) =>
        p.child.exitCode === null && p.child.signalCode === null ? treeOf(p.pid) : [],
      );
      signalAll(pids, "SIGKILL");
      await Promise.race([Promise.all(started.map((p) => p.exited)), sleep(3000)]);
      if (db && table && dropTable) {
        await db.query("SET lock_timeout = '5s'").catch(() => {});
        // Every table the demo made: the jobs, and the lease tables jobguard created for it.
        const tables = [table, leaseTable(table), `${leaseTable(table)}_rescues`].join(", ");
        await db
          .query(`DROP TABLE IF EXISTS ${tables}`)
          .catch((e: unknown) => process.stdout.write(`Could not drop tables ${tables}: ${hideUrl(e)}\n`));
      }
      await db?.end().catch(() => {});
      await server?.stop();
    })());
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(signal, () => {
      if (interrupted) return;
      process.stdout.write(`\nInterrupted (${signal}): stopping the workers and cleaning up.\n`);
      interrupted = signal;
      void cleanup().finally(() => process.exit(128 + constants.signals[signal]));
    });
  }

  say("jobguard demo: a delayed_job worker is in the middle of a long job when Heroku restarts its dyno.");
  say(
    `The worker is a small Node stand-in for delayed_job's \`rake jobs:work\`: it locks jobs with the same SQL,`,
  );
  say(
    `polls every ${POLL_MS / 1000} s, and on SIGTERM finishes its current job before exiting, as delayed_job does.`,
  );
  say(
    `Time is compressed: Heroku waits 30 s between SIGTERM and SIGKILL; this demo waits ${HEROKU_GRACE_S} s.`,
  );
  say();

  let url = process.env.DATABASE_URL || undefined;
  try {
    if (url) {
      // Someone's real database: a table of the demo's own, never delayed_jobs.
      table = `jobguard_demo_jobs_${randomBytes(3).toString("hex")}`;
      say(
        `Database: ${describeDatabase(url)} (from DATABASE_URL), in a new table ${table} (and jobguard's ${leaseTable(table)} and ${leaseTable(table)}_rescues) dropped at the end.`,
      );
    } else {
      table = "delayed_jobs";
      const t0 = Date.now();
      say("No DATABASE_URL: starting an embedded PostgreSQL...");
      server = await startEmbeddedPostgres();
      url = server.url;
      databaseUrl = url;
      say(`Database: embedded PostgreSQL at ${describeDatabase(url)}, started in ${secs(Date.now() - t0)}.`);
    }
    if (interrupted) return 128 + constants.signals[interrupted];
    db = await connect(url, process.env, { application_name: "jobguard-demo" });
    db.on("error", () => {});
    await createTable(db, table);
    // Only now, and only in someone's database: a table that was there before is not the demo's to
    // drop, and the embedded server goes away with its tables.
    dropTable = !server;
    return await demo(url, table, db);
  } finally {
    await cleanup();
  }
}

if (process.argv[1] && process.argv[1] === SELF) {
  main().then(
    (code) => process.exit(interrupted ? 128 + constants.signals[interrupted] : code),
    (err: unknown) => {
      if (interrupted) return; // the signal handler exits once the cleanup is done
      process.stderr.write(`jobguard demo: ${hideUrl(err)}\n`);
      process.exit(1);
    },
  );
}
