import type { Client } from "../postgres/client.js";

// jobguard's rescue counts (lease/schema.ts): a row (job_table, job_id,
// rescues, last_rescued_at) per job rescued from a dead worker. The queues'
// counted statements add to it; job_table, the job table's name as text,
// keeps two tables' ids from sharing a count.

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
