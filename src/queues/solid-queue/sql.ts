import type { Client } from "../../postgres/client.js";
import type { Released, RescueCounting } from "../adapter.js";
import { released } from "../released.js";
import { rescueLimitError } from "../rescue-count.js";
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

/** A dead process; reusedSince (Date.now() terms): when a newer process took its pid, if one did. */
export interface DeadPid {
  host: string;
  pid: number;
  reusedSince?: number;
}

/**
 * The CTEs `own(id)`, the process rows of the statement's `dead(host, pid,
 * reused_since)`, each registered before a newer process took its pid if one
 * did, and `gone(id)`: those and the rows of the processes they supervised.
 * The release and the sweep find the dead processes' rows through it alike.
 */
export function goneProcesses(t: SolidQueueTables): string {
  return `own AS (
       SELECT p.id FROM ${t.processes} p JOIN dead d ON p.hostname = d.host AND p.pid = d.pid
        WHERE d.reused_since IS NULL OR p.created_at < d.reused_since AT TIME ZONE 'UTC'
     ), gone AS (
       SELECT id FROM own UNION SELECT s.id FROM ${t.processes} s WHERE s.supervisor_id IN (SELECT id FROM own)
     )`;
}

/** The dead(host, pid, reused_since) parameters of these dead processes. */
export function deadColumns(dead: readonly DeadPid[]): [string[], number[], (string | null)[]] {
  return [
    dead.map((d) => d.host),
    dead.map((d) => d.pid),
    dead.map((d) => (d.reusedSince === undefined ? null : new Date(d.reusedSince).toISOString())),
  ];
}

/**
 * The counted release, after a crash and in a sweep, in one statement (one
 * transaction): the dead processes' claims go back to ready with their queue
 * and priority, as Solid Queue's own release does, and their process rows are
 * deleted, claims first (Solid Queue fails a claim whose process row is
 * missing). Each claim counts a rescue of its job; a job rescued more than
 * max-rescues times gets a failed execution instead, saying why and which
 * process held it last: its error is what Solid Queue's FailedExecution
 * stores, JSON with exception_class, message and backtrace, so Mission
 * Control shows it and can retry the job.
 *
 * With olderThanMs (a sweep), only claims at least that old go, and a process
 * row goes once it holds no other claim and has not written a heartbeat of
 * its own for that long either: a young claim keeps its process row and the
 * lease, until a later sweep.
 */
export async function releaseCounted(
  client: Client,
  t: SolidQueueTables,
  dead: readonly DeadPid[],
  olderThanMs: number | null,
  counting: RescueCounting,
): Promise<Released> {
  const result = await client.query<{ id: string; failed: boolean }>(
    `WITH dead AS (
       SELECT * FROM unnest($1::text[], $2::int[], $3::timestamptz[]) AS d(host, pid, reused_since)
     ), ${goneProcesses(t)}, dead_claims AS (
       DELETE FROM ${t.claimed} c USING gone g
        WHERE c.process_id = g.id
          AND ($4::float8 IS NULL OR c.created_at < (now() AT TIME ZONE 'UTC') - $4 * interval '1 millisecond')
       RETURNING c.job_id AS id, c.process_id
     ), deregistered AS (
       DELETE FROM ${t.processes} p USING gone g
        WHERE p.id = g.id
          AND ($4 IS NULL OR (p.last_heartbeat_at < (now() AT TIME ZONE 'UTC') - $4 * interval '1 millisecond'
               AND NOT EXISTS (SELECT 1 FROM ${t.claimed} c WHERE c.process_id = p.id AND c.job_id NOT IN (SELECT id FROM dead_claims))))
       RETURNING p.id
     ), counted AS (
       INSERT INTO ${counting.countsTable} AS r (job_table, job_id, rescues)
       SELECT $5, id, 1 FROM dead_claims
       ON CONFLICT (job_table, job_id) DO UPDATE SET rescues = r.rescues + 1, last_rescued_at = now()
       RETURNING job_id, rescues
     ), ready AS (
       INSERT INTO ${t.ready} (job_id, queue_name, priority, created_at)
       SELECT j.id, j.queue_name, j.priority, now() AT TIME ZONE 'UTC' FROM ${t.jobs} j JOIN counted k ON k.job_id = j.id
        WHERE k.rescues <= $6
       ON CONFLICT (job_id) DO NOTHING
       RETURNING job_id
     ), failed AS (
       INSERT INTO ${t.failed} (job_id, error, created_at)
       SELECT k.job_id, json_build_object('exception_class', 'JobGuard::RescueLimitExceeded', 'backtrace', json_build_array(),
                'message', $7::text || ' (last process: ' || coalesce(p.kind || ' ' || p.name || ' host:' || p.hostname || ' pid:' || p.pid, 'gone') || ')')::text,
              now() AT TIME ZONE 'UTC'
         FROM counted k JOIN dead_claims c ON c.id = k.job_id LEFT JOIN ${t.processes} p ON p.id = c.process_id
        WHERE k.rescues > $6
       ON CONFLICT (job_id) DO NOTHING
       RETURNING job_id
     )
     SELECT job_id AS id, rescues > $6 AS failed FROM counted`,
    [
      ...deadColumns(dead),
      olderThanMs,
      t.jobTable,
      counting.maxRescues,
      rescueLimitError(counting.maxRescues),
    ],
  );
  return released(result.rows);
}
