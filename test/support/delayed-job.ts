import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import { withClient } from "./db.js";
import { prerequisite } from "./prerequisites.js";

/** Repository root (nearest ancestor with package.json), valid from both test/ and build/test/. */
export const REPO_ROOT: string = findRepoRoot(dirname(fileURLToPath(import.meta.url)));

/** Absolute path of the Ruby delayed_job worker fixture. */
export const WORKER_SCRIPT: string = join(REPO_ROOT, "test", "fixtures", "delayed_job", "worker.rb");

/** Absolute path of the job_events schema used by SleepJob. */
export const JOB_EVENTS_SCHEMA: string = join(REPO_ROOT, "test", "fixtures", "delayed_job", "schema.sql");

/** One row of job_events, written by SleepJob ('started' / 'finished'). */
export interface JobEvent {
  label: string;
  event: string;
  pid: number;
  at: Date;
}

let skipReason: string | null | undefined;

/** null when `ruby` can load delayed_job_active_record and pg; otherwise why delayed_job tests can't run (cached). */
export function delayedJobSkipReason(): string | null {
  if (skipReason !== undefined) return skipReason;
  const r = spawnSync("ruby", ["-e", 'require "delayed_job_active_record"; require "pg"'], {
    encoding: "utf8",
    timeout: 30_000,
  });
  const hint = "(apt-get install ruby ruby-delayed-job-active-record ruby-pg)";
  if (r.error) {
    skipReason = `ruby not runnable: ${r.error.message} ${hint}`;
  } else if (r.status !== 0) {
    const firstLine = (r.stderr || "").trim().split("\n")[0] ?? "";
    skipReason = `ruby cannot load delayed_job_active_record/pg: ${firstLine} ${hint}`;
  } else {
    skipReason = null;
  }
  return skipReason;
}

/** Returns true if delayed_job is usable; else skips `t` (or fails it when JOBGUARD_REQUIRE_RUBY=1) and returns false. */
export function requireDelayedJob(t: TestContext): boolean {
  return prerequisite(t, delayedJobSkipReason(), "JOBGUARD_REQUIRE_RUBY");
}

/** Handler YAML for worker.rb's SleepJob, insertable straight into delayed_jobs.handler. */
export function sleepJobHandler(seconds: number, label: string): string {
  return `--- !ruby/struct:SleepJob\nseconds: ${seconds}\nlabel: ${JSON.stringify(label)}\n`;
}

/** Environment for running WORKER_SCRIPT against `databaseUrl` (extra vars e.g. DJ_EXIT_WHEN_EMPTY: "1"). */
export function workerEnv(databaseUrl: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, DATABASE_URL: databaseUrl, ...extra };
}

/** Creates the job_events table (test/fixtures/delayed_job/schema.sql) that SleepJob writes to. */
export async function createJobEventsTable(url: string): Promise<void> {
  const sql = readFileSync(JOB_EVENTS_SCHEMA, "utf8");
  await withClient(url, async (c) => {
    await c.query(sql);
  });
}

/** Returns job_events rows (optionally only for `label`) in insertion-time order. */
export async function getJobEvents(url: string, label?: string): Promise<JobEvent[]> {
  return withClient(url, async (c) => {
    const res = await c.query<JobEvent>(
      "SELECT label, event, pid, at FROM job_events WHERE $1::text IS NULL OR label = $1 ORDER BY at, event DESC",
      [label ?? null],
    );
    return res.rows;
  });
}

/** T without the falsy values waitFor keeps polling past. */
export type Truthy<T> = Exclude<T, false | null | undefined | 0 | "">;

/** Polls `predicate` until it returns a truthy value (returned) or throws after timeoutMs (default 10s). */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  {
    timeoutMs = 10_000,
    intervalMs = 50,
    what = "condition",
  }: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<Truthy<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await predicate();
      if (value) return value as Truthy<T>;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const cause = lastError instanceof Error ? `; last error: ${lastError.message}` : "";
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

function findRepoRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json"))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${start}`);
  }
}
