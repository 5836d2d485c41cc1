import type { Client } from "pg";

/**
 * A CTE `counted(job_id, rescues)` that counts one rescue for each job of the
 * CTE `dead_claims(id)`, which the caller's statement defines before it (and
 * selects FOR UPDATE). `jobTable` is the SQL of the job table's name as text,
 * so that two queues' ids never share a count. The caller decides from
 * `rescues` whether the job goes back or is marked failed.
 */
export function countRescues(countsTable: string, jobTable: string): string {
  return `counted AS (
      INSERT INTO ${countsTable} AS r (job_table, job_id, rescues)
      SELECT ${jobTable}, id, 1 FROM dead_claims
      ON CONFLICT (job_table, job_id) DO UPDATE SET rescues = r.rescues + 1, last_rescued_at = now()
      RETURNING job_id, rescues
    )`;
}

/**
 * Forgets the counts of one job table's jobs that are gone (done or deleted).
 * `jobs` is the table quoted, `jobTable` its name as the counts key it.
 */
export async function forgetCounts(
  client: Client,
  countsTable: string,
  jobs: string,
  jobTable: string,
): Promise<void> {
  await client.query(
    `DELETE FROM ${countsTable} r WHERE r.job_table = $1 AND NOT EXISTS (SELECT 1 FROM ${jobs} j WHERE j.id = r.job_id)`,
    [jobTable],
  );
}

/** The error a job marked failed by jobguard carries; the queue adds the name of the last worker. */
export function rescueLimitError(maxRescues: number): string {
  return `jobguard: rescued from dead workers more than ${maxRescues} times; marked failed so it cannot crash-loop the fleet`;
}
