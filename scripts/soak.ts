/**
 * `npm run soak`: a fleet of simulated dynos, each jobguard in front of a real
 * delayed_job worker under a host name of its own, with its own lease timing,
 * against a PostgreSQL the soak starts itself; jobs enqueued all along; faults
 * at random (scripts/soak/faults.ts). Then it waits for the queue to drain,
 * stops the fleet, and checks: every job done, none run by two live processes
 * at once, no jobguard past its grace, nothing left running. Exit 0 when all
 * hold, 1 on a violation, 2 for bad options, 3 when the soak cannot run here,
 * 4 when the soak itself failed half-way (its message says where).
 * Needs Ruby with Debian's ruby-delayed-job-active-record and ruby-pg, and
 * root for `unshare --uts`.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { constants, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { delayedJobsTableSql } from "../tools/delayed-jobs-table.js";
import { JOBGUARD } from "../tools/repo.js";
import { Dyno, GRACE_S, type LeaseTiming } from "./soak/dyno.js";
import { overlaps, readRuns } from "./soak/events.js";
import { injectFault, type Fault } from "./soak/faults.js";
import { parseOptions, USAGE, type SoakOptions } from "./soak/options.js";
import { startOwnPostgres, type OwnPostgres } from "./soak/postgres.js";
import { dynoProcesses, killAll } from "./soak/procs.js";
import { seeded, type Random } from "./soak/random.js";
import { report, violationCount, type Checks, type LogCounts } from "./soak/report.js";
import { LockWatch } from "./soak/watch.js";

/** Each dyno's lease timing, in turn: mixed, as during a deploy; each meets grace + 2 x heartbeat + 3 s + 2 s (the replication lag, for a heartbeat of 2 s or less). */
const TIMINGS: LeaseTiming[] = [
  { heartbeat: 0.5, staleAfter: 9 },
  { heartbeat: 1, staleAfter: 11 },
  { heartbeat: 0.5, staleAfter: 10 },
];

/** Past the longest stale-after, how long a dead worker's lock may wait for a sweep before the drain gives up on it. */
const STUCK_MARGIN_MS = 30_000;

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  if (typeof options === "string") {
    process.stderr.write(`soak: ${options}\n${USAGE}\n`);
    return 2;
  }
  const missing = missingPrerequisite();
  if (missing) {
    process.stderr.write(`soak: cannot run: ${missing}\n`);
    return 3;
  }
  const dir = options.logs ? resolve(options.logs) : mkdtempSync(join(tmpdir(), "jobguard-soak-"));
  mkdirSync(dir, { recursive: true });
  const soakId = `soak-${process.pid}-${randomBytes(4).toString("hex")}`;
  let db: OwnPostgres | undefined;
  let failed = true;
  const dynos: Dyno[] = [];
  // Whatever happens, a signal included: every process of every dyno, by pid, then the server.
  let tornDown: Promise<void> | undefined;
  const tearDown = () =>
    (tornDown ??= (async () => {
      for (const d of dynos) killAll([d.current?.pid ?? -1].filter((p) => p > 0));
      killAll(dynoProcesses(`${soakId}:`).map((p) => p.pid));
      await db?.stop();
      if (!failed && !options.logs) rmSync(dir, { recursive: true, force: true });
    })());
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(signal, () => {
      process.stderr.write(`soak: ${signal}: stopping every dyno and the database; logs in ${dir}\n`);
      void tearDown().finally(() => process.exit(128 + constants.signals[signal]));
    });
  }
  process.once("uncaughtException", (err) => {
    process.stderr.write(`soak: failed: ${err.message}; logs in ${dir}\n`);
    void tearDown().finally(() => process.exit(4));
  });
  try {
    try {
      db = await startOwnPostgres();
    } catch (err) {
      process.stderr.write(`soak: cannot run: ${err instanceof Error ? err.message : String(err)}\n`);
      return 3;
    }
    const lines = await soak(options, db, dir, soakId, dynos);
    failed = lines.violations > 0;
    process.stdout.write(`${lines.text.join("\n")}\n`);
    if (failed || options.logs)
      process.stdout.write(`the dynos' logs, the job events and the faults are in ${dir}\n`);
    return failed ? 1 : 0;
  } catch (err) {
    process.stderr.write(`soak: failed: ${err instanceof Error ? err.message : String(err)}\n`);
    return 4;
  } finally {
    await tearDown();
  }
}

async function soak(
  options: SoakOptions,
  db: OwnPostgres,
  dir: string,
  soakId: string,
  dynos: Dyno[],
): Promise<{ text: string[]; violations: number }> {
  // Two streams from the seed, so that the jobs' timing does not shift the faults' choices.
  const random = seeded(options.seed);
  const jobsRandom = seeded(options.seed ^ 0x5bd1e995);
  const queue = new pg.Pool({ connectionString: db.url, max: 1, connectionTimeoutMillis: 2000 });
  queue.on("error", () => {}); // a severed session: the next query reconnects
  for (const statement of delayedJobsTableSql()) await queue.query(statement);
  const eventsFile = join(dir, "job-events");
  const counts: LogCounts = { swept: 0, released: 0, unprovable: 0, leaseLost: 0, internalErrors: 0 };
  const dynoViolations: string[] = [];
  for (let i = 1; i <= options.dynos; i++) {
    const timing = TIMINGS[(i - 1) % TIMINGS.length]!;
    dynos.push(
      new Dyno({
        name: `soak-${i}`,
        soakId,
        timing,
        databaseUrl: db.url,
        eventsFile,
        logDir: dir,
        onLine: (_, line) => countLine(counts, line),
        onViolation: (v) => dynoViolations.push(`${v.dyno}: ${v.what}`),
      }),
    );
  }
  const watch = new LockWatch(soakId, db.url);
  let watching = true;
  const watcher = (async () => {
    while (watching) await Promise.all([watch.sample(), sleep(250)]);
  })();
  const enqueued = new Set<string>();
  const faults = new Map<Fault, number>();
  let drainMs = 0;
  try {
    for (const d of dynos) d.start();
    for (let i = 0; i < 2 * options.dynos; i++) await enqueue(queue, jobsRandom, enqueued);
    const faultsEnd = Date.now() + options.durationS * 1000;
    let enqueuing = true;
    const enqueuer = (async () => {
      while (enqueuing) {
        await sleep(jobsRandom.between(500, 2000));
        if (enqueuing) await enqueue(queue, jobsRandom, enqueued);
      }
    })();
    while (Date.now() < faultsEnd) {
      await sleep(Math.min(random.between(2000, 6000), Math.max(0, faultsEnd - Date.now())));
      if (Date.now() >= faultsEnd) break;
      const at = new Date().toISOString();
      const injected = await injectFault(random, dynos, db);
      if (!injected) continue;
      faults.set(injected.fault, (faults.get(injected.fault) ?? 0) + 1);
      appendFileSync(join(dir, "faults.log"), `${at} ${injected.fault} on ${injected.on}\n`);
    }
    enqueuing = false;
    await enqueuer;
    const drainStart = Date.now();
    const stuckMs = Math.max(...TIMINGS.map((t) => t.staleAfter)) * 1000 + STUCK_MARGIN_MS;
    await drained(queue, eventsFile, enqueued, watch, { ms: options.drainS * 1000, stuckMs });
    drainMs = Date.now() - drainStart;
    await Promise.all(dynos.map((d) => d.stop()));
  } finally {
    watching = false;
    await watcher;
  }
  await watch.sample();
  const runs = readRuns(eventsFile);
  const checks: Checks = {
    notDone: await notDone(queue, runs, enqueued),
    overlaps: overlaps(runs),
    dynoViolations,
    stuck: watch.stuck(),
    leftovers: dynoProcesses(`${soakId}:`).map((p) => `pid ${p.pid} (${p.tag}): ${p.command}`),
  };
  await Promise.all([queue.end(), watch.close()]);
  const text = report(
    {
      seed: options.seed,
      dynos: dynos.map((d, i) => `${d.name} ${describeTiming(TIMINGS[i % TIMINGS.length]!)}`),
      durationS: options.durationS,
      drainMs,
      enqueued,
      runs,
      faults,
      boots: dynos.reduce((n, d) => n + d.boots, 0),
      ownExits: dynos.flatMap((d) => d.ownExits),
      stopMs: dynos.flatMap((d) => d.stopMs),
      graceMs: GRACE_S * 1000,
      log: counts,
      longest: watch.longest,
      pidsSeen: watch.seen.size,
    },
    checks,
  );
  return { text, violations: violationCount(checks) };
}

let jobs = 0;

/** Enqueues a job of 0.5 to 4 s; a database that is down skips this one. */
async function enqueue(queue: pg.Pool, random: Random, enqueued: Set<string>): Promise<void> {
  const label = `j${++jobs}`;
  const handler = `--- !ruby/struct:SoakJob\nlabel: ${label}\nseconds: ${random.between(0.5, 4).toFixed(2)}\n`;
  try {
    await queue.query(
      `INSERT INTO delayed_jobs (handler, run_at, created_at, updated_at)
       VALUES ($1, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')`,
      [handler],
    );
    enqueued.add(label);
  } catch {
    // Down, restarting, or the session was just severed.
  }
}

/**
 * Waits until the queue is empty and every job has finished, or until all
 * that is left is failed or stuck (locked by a worker dead for longer than
 * `stuckMs`: no sweep will come for them), or the time is up.
 */
async function drained(
  queue: pg.Pool,
  eventsFile: string,
  enqueued: Set<string>,
  watch: LockWatch,
  { ms, stuckMs }: { ms: number; stuckMs: number },
): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const left = await queue
      .query<{ id: string; failed: boolean }>("SELECT id, failed_at IS NOT NULL AS failed FROM delayed_jobs")
      .catch(() => undefined);
    if (left) {
      const finished = new Set(
        readRuns(eventsFile)
          .filter((r) => r.finished)
          .map((r) => r.label),
      );
      if (left.rows.length === 0 && [...enqueued].every((l) => finished.has(l))) return;
      const stuck = new Set(
        watch
          .stuck()
          .filter((l) => Date.now() - l.since > stuckMs)
          .map((l) => l.id),
      );
      if (left.rows.length > 0 && left.rows.every((r) => r.failed || stuck.has(r.id))) return;
    }
    await sleep(500);
  }
}

/** Each job that is not done, and how it stands. */
async function notDone(
  queue: pg.Pool,
  runs: ReturnType<typeof readRuns>,
  enqueued: Set<string>,
): Promise<string[]> {
  const finished = new Set(runs.filter((r) => r.finished).map((r) => r.label));
  const { rows } = await queue.query<{
    id: string;
    handler: string;
    locked_by: string | null;
    failed_at: Date | null;
    last_error: string | null;
    attempts: number;
  }>("SELECT id, handler, locked_by, failed_at, last_error, attempts FROM delayed_jobs ORDER BY id");
  const found = rows.map(
    (r) =>
      `job ${r.id} (${/label: (\S+)/.exec(r.handler)?.[1]}) still in the queue: ` +
      (r.failed_at
        ? `failed (${r.last_error?.split("\n")[0]})`
        : r.locked_by
          ? `locked by ${r.locked_by}`
          : "waiting") +
      `, ${r.attempts} attempt(s)`,
  );
  for (const label of enqueued) if (!finished.has(label)) found.push(`${label} never finished a run`);
  return found;
}

/** Adds what one line of a dyno's stderr reports to the counts. */
function countLine(counts: LogCounts, line: string): void {
  const ids = (field: string) =>
    (new RegExp(` ${field}=([0-9,]+)`).exec(line)?.[1] ?? "").split(",").filter(Boolean).length;
  if (line.includes("event=swept ")) counts.swept += ids("released");
  else if (line.includes("event=locks_released "))
    counts.released += Number(/ jobs=(\d+)/.exec(line)?.[1] ?? 0);
  else if (line.includes("event=rescue_unprovable")) counts.unprovable++;
  else if (line.includes("event=lease_lost")) counts.leaseLost++;
  else if (line.includes("event=internal_error")) counts.internalErrors++;
}

function describeTiming(t: LeaseTiming): string {
  return `heartbeat ${t.heartbeat} s, stale-after ${t.staleAfter} s`;
}

/** Why the soak cannot run here, or undefined. */
function missingPrerequisite(): string | undefined {
  if (!existsSync(JOBGUARD)) return `${JOBGUARD} is missing (npm run build)`;
  const ruby = spawnSync("ruby", ["-e", 'require "delayed_job_active_record"; require "pg"'], {
    timeout: 30_000,
  });
  if (ruby.status !== 0)
    return "ruby cannot load delayed_job_active_record and pg (apt-get install ruby ruby-delayed-job-active-record ruby-pg)";
  if (spawnSync("unshare", ["--uts", "hostname", "soak-probe"]).status !== 0)
    return "simulated dynos need `unshare --uts` (util-linux, as root) to give each a host name";
  return undefined;
}

process.exitCode = await main();
