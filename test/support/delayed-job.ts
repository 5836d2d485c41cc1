import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { withClient } from "../../tools/db.js";
import { REPO_ROOT } from "../../tools/repo.js";
import { prerequisite } from "./prerequisites.js";

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
  return prerequisite(t, "JOBGUARD_REQUIRE_RUBY", delayedJobSkipReason());
}

/**
 * Handler YAML for worker.rb's SleepJob, insertable straight into
 * delayed_jobs.handler; `idle`: the job holds no connection while it sleeps.
 */
export function sleepJobHandler(seconds: number, label: string, { idle = false } = {}): string {
  return `--- !ruby/struct:SleepJob\nseconds: ${seconds}\nlabel: ${JSON.stringify(label)}\n${idle ? "idle: true\n" : ""}`;
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
