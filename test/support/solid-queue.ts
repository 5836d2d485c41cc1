import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { withClient } from "../../tools/db.js";
import { fixture } from "./jobguard.js";
import { waitFor } from "./wait.js";

/** The stand-in for Solid Queue 1.x's `bin/jobs` (test/fixtures/solid_queue/stand-in.mjs). */
export const STAND_IN = [process.execPath, fixture("solid_queue/stand-in.mjs")];

/**
 * The environment of jobguard and of the stand-in it runs, on one test's schema:
 * Solid Queue's tables and jobguard's lease table there, fast heartbeats and polls.
 */
export function solidQueueEnv(url: string, schema: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    JOBGUARD_QUEUE: "solid_queue",
    JOBGUARD_TABLE_PREFIX: `${schema}.solid_queue_`,
    JOBGUARD_LEASE_TABLE: `${schema}.jobguard_leases`,
    DATABASE_URL: url,
    SQ_SCHEMA: schema,
    SQ_HEARTBEAT: "0.5",
    SQ_POLL: "0.05",
    ...extra,
  };
}

/** A schema of its own holding Solid Queue's tables (test/fixtures/solid_queue/schema.sql) and the stand-in's event log. */
export async function createSolidQueueSchema(url: string, schema: string): Promise<void> {
  const sql = readFileSync(fixture("solid_queue/schema.sql"), "utf8");
  await withClient(url, async (c) => {
    await c.query(`CREATE SCHEMA ${schema}; SET search_path TO ${schema}`);
    await c.query(sql);
    await c.query(
      "CREATE TABLE stand_in_events (job_id bigint, event text, pid integer, at timestamptz DEFAULT clock_timestamp())",
    );
  });
}

/** Enqueues a job as Solid Queue does for a job due now: a jobs row and its ready execution. `seconds`: how long the stand-in performs it. */
export async function enqueue(
  url: string,
  schema: string,
  seconds: number,
  { queue = "default", priority = 0 } = {},
): Promise<number> {
  return withClient(url, async (c) => {
    const { rows } = await c.query<{ id: string }>(
      `INSERT INTO ${schema}.solid_queue_jobs (queue_name, class_name, arguments, priority, active_job_id, scheduled_at, created_at, updated_at)
       VALUES ($1, 'SleepJob', $2, $3, $4, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC') RETURNING id`,
      [queue, JSON.stringify({ job_class: "SleepJob", arguments: [seconds] }), priority, randomUUID()],
    );
    const id = Number(rows[0]!.id);
    await c.query(
      `INSERT INTO ${schema}.solid_queue_ready_executions (job_id, queue_name, priority, created_at) VALUES ($1, $2, $3, now() AT TIME ZONE 'UTC')`,
      [id, queue, priority],
    );
    return id;
  });
}

/** Where a job stands: its ready row (queue, priority), its claim's process_id, its failed execution's error, finished. */
export interface JobState {
  ready: { queue_name: string; priority: number } | null;
  claimedBy: number | null;
  error: { exception_class: string; message: string } | null;
  finished: boolean;
}

export async function jobState(url: string, schema: string, id: number): Promise<JobState> {
  return withClient(url, async (c) => {
    const { rows } = await c.query<{
      ready: JobState["ready"];
      claimed_by: string | null;
      error: string | null;
      finished: boolean;
    }>(
      `SELECT (SELECT json_build_object('queue_name', queue_name, 'priority', priority) FROM ${schema}.solid_queue_ready_executions WHERE job_id = j.id) AS ready,
              (SELECT process_id FROM ${schema}.solid_queue_claimed_executions WHERE job_id = j.id) AS claimed_by,
              (SELECT error FROM ${schema}.solid_queue_failed_executions WHERE job_id = j.id) AS error,
              j.finished_at IS NOT NULL AS finished
         FROM ${schema}.solid_queue_jobs j WHERE j.id = $1`,
      [id],
    );
    const row = rows[0];
    if (!row) throw new Error(`no job ${id} in ${schema}.solid_queue_jobs`);
    return {
      ready: row.ready,
      claimedBy: row.claimed_by === null ? null : Number(row.claimed_by),
      error: row.error === null ? null : (JSON.parse(row.error) as JobState["error"]),
      finished: row.finished,
    };
  });
}

/** A job back in the queue: ready with its queue and priority, neither claimed nor failed nor finished. */
export function backInQueue(queue = "default", priority = 0): JobState {
  return { ready: { queue_name: queue, priority }, claimedBy: null, error: null, finished: false };
}

/** One registered process. */
export interface ProcessRow {
  id: number;
  kind: string;
  pid: number;
  hostname: string;
  supervisor_id: number | null;
}

export async function processes(url: string, schema: string): Promise<ProcessRow[]> {
  return withClient(url, async (c) => {
    const { rows } = await c.query<{
      id: string;
      kind: string;
      pid: number;
      hostname: string;
      supervisor_id: string | null;
    }>(`SELECT id, kind, pid, hostname, supervisor_id FROM ${schema}.solid_queue_processes ORDER BY id`);
    return rows.map((r) => ({
      ...r,
      id: Number(r.id),
      supervisor_id: r.supervisor_id === null ? null : Number(r.supervisor_id),
    }));
  });
}

/** The stand-in's `started`/`finished` events for a job, in order. */
export async function events(
  url: string,
  schema: string,
  id: number,
): Promise<{ event: string; pid: number }[]> {
  return withClient(
    url,
    async (c) =>
      (
        await c.query<{ event: string; pid: number }>(
          `SELECT event, pid FROM ${schema}.stand_in_events WHERE job_id = $1 ORDER BY at`,
          [id],
        )
      ).rows,
  );
}

/** Waits until the stand-in has started the job `times` times in all; resolves with the pid of the worker that started it last. */
export async function started(
  url: string,
  schema: string,
  id: number,
  times = 1,
  timeoutMs = 15_000,
): Promise<number> {
  const runs = await waitFor(
    async () => {
      const runs = (await events(url, schema, id)).filter((e) => e.event === "started");
      return runs.length >= times && runs;
    },
    { timeoutMs, what: `job ${id} to start` },
  );
  return runs[runs.length - 1]!.pid;
}

/** Registers a process row by hand, as another process would have: `ago` is an SQL interval for its heartbeat and creation. */
export async function insertProcess(
  url: string,
  schema: string,
  row: {
    kind?: string;
    pid: number;
    hostname: string;
    supervisorId?: number;
    ago?: string;
    createdAt?: Date;
  },
): Promise<number> {
  return withClient(url, async (c) => {
    const { rows } = await c.query<{ id: string }>(
      `INSERT INTO ${schema}.solid_queue_processes (kind, last_heartbeat_at, supervisor_id, pid, hostname, metadata, created_at, name)
       VALUES ($1, now() AT TIME ZONE 'UTC' - $2::interval, $3, $4, $5, '{}',
               coalesce($6::timestamptz AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC' - $2::interval), $7) RETURNING id`,
      [
        row.kind ?? "Worker",
        row.ago ?? "0 seconds",
        row.supervisorId ?? null,
        row.pid,
        row.hostname,
        row.createdAt?.toISOString() ?? null,
        `worker-${randomUUID().slice(0, 20)}`,
      ],
    );
    return Number(rows[0]!.id);
  });
}

/** Claims a ready job for a process row, as a worker's claim does; `ago` backdates the claim. */
export async function claim(
  url: string,
  schema: string,
  jobId: number,
  processId: number,
  ago = "0 seconds",
): Promise<void> {
  await withClient(url, async (c) => {
    await c.query(`DELETE FROM ${schema}.solid_queue_ready_executions WHERE job_id = $1`, [jobId]);
    await c.query(
      `INSERT INTO ${schema}.solid_queue_claimed_executions (job_id, process_id, created_at) VALUES ($1, $2, now() AT TIME ZONE 'UTC' - $3::interval)`,
      [jobId, processId, ago],
    );
  });
}

/** The pids of the stand-in's supervisor and worker, from their process rows once both have registered. */
export async function standInPids(
  url: string,
  schema: string,
  workerPid: number,
): Promise<{ supervisor: number; worker: number }> {
  return waitFor(
    async () => {
      const rows = await processes(url, schema);
      const worker = rows.find((r) => r.pid === workerPid);
      const supervisor = rows.find((r) => r.id === worker?.supervisor_id);
      return supervisor && worker && { supervisor: supervisor.pid, worker: worker.pid };
    },
    { what: "the stand-in's process rows" },
  );
}
