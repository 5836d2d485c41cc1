import type { Client } from "pg";
import type { DeadWorker, RescueCounting, Released } from "../adapter.js";
import { countRescues, rescueLimitError } from "../rescue-count.js";
import type { SolidQueueTables } from "./tables.js";

// Solid Queue 1.x (rails/solid_queue). Every process of a supervisor tree (the
// supervisor, its forked workers and dispatchers) registers a row in
// `processes` with its own pid and hostname; a worker claims a job by moving
// it from `ready_executions` to `claimed_executions` (process_id = its row).
// When a process deregisters gracefully, its claims go back to ready (the
// job dispatched again, bypassing concurrency limits) and its row is deleted.
// A process that dies without deregistering keeps its claims until a
// supervisor prunes it (5 minutes without a heartbeat), and then its jobs are
// *failed* (ProcessPrunedError). jobguard does the graceful deregister for it.
// Solid Queue writes its times in UTC without a zone; jobguard's sessions run in UTC.

/**
 * The CTEs `gone(id)`: the process rows of the dead processes and of those
 * they supervised, and `dead_claims(id)`: their claims, removed. A row is a
 * dead process's only if it registered before a newer process took its pid
 * ($3, reused_since). $1 host, $2 dead pids.
 */
function claimsOfDead(t: SolidQueueTables): string {
  return `dead AS (
      SELECT * FROM unnest($2::int[], $3::timestamptz[]) AS d(pid, reused_since)
    ), own AS (
      SELECT p.id FROM ${t.processes} p JOIN dead d ON p.pid = d.pid
       WHERE p.hostname = $1 AND (d.reused_since IS NULL OR p.created_at < d.reused_since AT TIME ZONE 'UTC')
    ), gone AS (
      SELECT id FROM own UNION SELECT s.id FROM ${t.processes} s WHERE s.supervisor_id IN (SELECT id FROM own)
    ), dead_claims AS (
      DELETE FROM ${t.claimed} c USING gone g WHERE c.process_id = g.id RETURNING c.job_id AS id, c.process_id
    )`;
}

/**
 * The end of a release or rescue, after `dead_claims(id, process_id)`: the
 * jobs go back to ready with their queue and priority, as Solid Queue's own
 * release does; with counting, a job rescued more than max-rescues times ($5)
 * gets a failed execution instead, saying why ($6) and which process held it
 * last. Its error is what Solid Queue's FailedExecution stores, JSON with
 * exception_class, message and backtrace, so Mission Control shows it and can
 * retry the job. Rows: (id, failed).
 */
export function backToReady(t: SolidQueueTables, countsTable?: string): string {
  if (countsTable === undefined) {
    return `ready AS (
      INSERT INTO ${t.ready} (job_id, queue_name, priority, created_at)
      SELECT j.id, j.queue_name, j.priority, now() AT TIME ZONE 'UTC' FROM ${t.jobs} j JOIN dead_claims c ON c.id = j.id
      ON CONFLICT (job_id) DO NOTHING
      RETURNING job_id
    )
    SELECT id, false AS failed FROM dead_claims`;
  }
  return `${countRescues(countsTable, "$4")}, ready AS (
      INSERT INTO ${t.ready} (job_id, queue_name, priority, created_at)
      SELECT j.id, j.queue_name, j.priority, now() AT TIME ZONE 'UTC' FROM ${t.jobs} j JOIN counted k ON k.job_id = j.id
       WHERE k.rescues <= $5
      ON CONFLICT (job_id) DO NOTHING
      RETURNING job_id
    ), failed AS (
      INSERT INTO ${t.failed} (job_id, error, created_at)
      SELECT k.job_id, json_build_object('exception_class', 'JobGuard::RescueLimitExceeded', 'backtrace', json_build_array(),
               'message', $6::text || ' (last process: ' || coalesce(p.kind || ' ' || p.name || ' host:' || p.hostname || ' pid:' || p.pid, 'gone') || ')')::text,
             now() AT TIME ZONE 'UTC'
        FROM counted k JOIN dead_claims c ON c.id = k.job_id LEFT JOIN ${t.processes} p ON p.id = c.process_id
       WHERE k.rescues > $5
      ON CONFLICT (job_id) DO NOTHING
      RETURNING job_id
    )
    SELECT job_id AS id, rescues > $5 AS failed FROM counted`;
}

/** The rows of a release, as Released. */
export function released(rows: { id: string; failed: boolean }[]): Released {
  const ids = rows.filter((r) => !r.failed).map((r) => String(r.id));
  const failed = rows.filter((r) => r.failed).map((r) => String(r.id));
  return { count: ids.length, ids, failed };
}

/**
 * After the kill: the dead processes' claims go back to ready, and their
 * process rows are deleted, in one statement (one transaction), claims
 * first: Solid Queue fails a claim whose process row is missing.
 */
export async function releaseDeadProcesses(
  client: Client,
  t: SolidQueueTables,
  worker: DeadWorker,
  counting?: RescueCounting,
): Promise<Released> {
  const pids = worker.dead.map((d) => d.pid);
  const reused = worker.dead.map((d) =>
    d.reusedSince === undefined ? null : new Date(d.reusedSince).toISOString(),
  );
  const params: unknown[] = [worker.host, pids, reused];
  if (counting) params.push(t.jobTable, counting.maxRescues, rescueLimitError(counting.maxRescues));
  const sql = `WITH ${claimsOfDead(t)}, deregistered AS (
      DELETE FROM ${t.processes} p USING gone g WHERE p.id = g.id RETURNING p.id
    ), ${backToReady(t, counting?.countsTable)}`;
  const result = await client.query<{ id: string; failed: boolean }>(sql, params);
  const out = released(result.rows);
  return counting ? out : { count: out.count, ids: out.ids };
}
