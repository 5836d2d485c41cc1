import { quoteTable } from "../release/delayed-job.js";
import type { LeaseTables } from "./schema.js";

/**
 * The end of a rescue statement, after a `dead_locks(id)` CTE that selects
 * the dead workers' jobs FOR UPDATE: counts one rescue for each job, puts it
 * back in the queue, or marks it failed once it has been rescued more than
 * `max` times. A job that keeps killing its worker must not crash-loop the
 * fleet. The placeholders are the caller's; rows are (id, failed).
 */
export function countedRelease(jobs: readonly string[], tables: LeaseTables, p: { jobTable: string; max: string; lastError: string }): string {
  const table = quoteTable(jobs);
  return `counted AS (
      INSERT INTO ${tables.rescues} AS r (job_table, job_id, rescues)
      SELECT ${p.jobTable}, id, 1 FROM dead_locks
      ON CONFLICT (job_table, job_id) DO UPDATE SET rescues = r.rescues + 1, last_rescued_at = now()
      RETURNING job_id, rescues
    )
    UPDATE ${table} j
       SET locked_by = NULL, locked_at = NULL,
           failed_at = CASE WHEN c.rescues > ${p.max} THEN now() AT TIME ZONE 'UTC' ELSE j.failed_at END,
           last_error = CASE WHEN c.rescues > ${p.max} THEN ${p.lastError} ELSE j.last_error END
      FROM counted c
     WHERE j.id = c.job_id
    RETURNING j.id, c.rescues > ${p.max} AS failed`;
}

/** The last_error of a job marked failed by countedRelease. */
export function rescueLimitError(maxRescues: number, host: string): string {
  return `jobguard: rescued from dead workers more than ${maxRescues} times; marked failed so it cannot crash-loop the fleet (last worker: host:${host})`;
}
