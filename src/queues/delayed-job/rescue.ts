import type { Client } from "pg";
import type { DeadLeasePid, DeadWorker, RescueCounting } from "../adapter.js";
import { countRescues, rescueLimitError } from "../rescue-count.js";
import { DEAD_PROCESSES, deadParams, HELD_BY_DEAD, workerOf, workerNames } from "./sql.js";

/** What a counted release did: jobs put back, and jobs marked failed. */
export interface Counted {
  released: string[];
  failed: string[];
}

/**
 * The end of a counted release, after a `dead_claims(id)` CTE that selects
 * the dead workers' jobs FOR UPDATE: counts a rescue for each, and puts it
 * back in the queue, or marks it failed once it has been rescued more than
 * max-rescues times. $3 is the job table's name as text, $4 max-rescues, $5
 * the error; rows are (id, failed).
 */
function countedUnlock(jobs: string, countsTable: string): string {
  return `${countRescues(countsTable, "$3")}
    UPDATE ${jobs} j
       SET locked_by = NULL, locked_at = NULL,
           failed_at = CASE WHEN c.rescues > $4 THEN now() AT TIME ZONE 'UTC' ELSE j.failed_at END,
           last_error = CASE WHEN c.rescues > $4 THEN $5 || ' (last worker: ' || j.locked_by || ')' ELSE j.last_error END
      FROM counted c
     WHERE j.id = c.job_id
    RETURNING j.id, c.rescues > $4 AS failed`;
}

function split(rows: { id: string; failed: boolean }[]): Counted {
  const counted: Counted = { released: [], failed: [] };
  for (const row of rows) (row.failed ? counted.failed : counted.released).push(String(row.id));
  return counted;
}

/**
 * Releases the locks of a worker that died on its own, with no shutdown
 * under way (the OOM killer took the worker but not jobguard, a segfault).
 * Like a dead dyno, that counts as a rescue of its jobs: a job that kills
 * its worker each time it runs is marked failed after max-rescues, rather
 * than run again at once, forever.
 */
export async function releaseAfterCrash(
  client: Client,
  jobs: string,
  jobTable: string,
  worker: DeadWorker,
  counting: RescueCounting,
): Promise<Counted> {
  const result = await client.query<{ id: string; failed: boolean }>(
    `WITH dead_claims AS (
       SELECT j.id FROM ${jobs} j, ${DEAD_PROCESSES} WHERE ${HELD_BY_DEAD} FOR UPDATE OF j
     ), ${countedUnlock(jobs, counting.countsTable)}`,
    [
      ...deadParams(worker.host, worker.dead),
      jobTable,
      counting.maxRescues,
      rescueLimitError(counting.maxRescues),
    ],
  );
  return split(result.rows);
}

/**
 * A sweep's release of the locks of dead leases' processes, in one statement
 * however many leases died: only locks older than stale-after ($2), since a
 * lock taken after the lease's last heartbeat shows the worker was alive then.
 * A join with the names, not `worker = ANY(names)`: given hundreds of names,
 * the planner estimates the ANY high and reads the whole table, where the
 * join reads the locked rows once (through the recommended partial index).
 */
export async function rescueDeadLeases(
  client: Client,
  jobs: string,
  jobTable: string,
  dead: readonly DeadLeasePid[],
  staleAfterMs: number,
  counting: RescueCounting,
): Promise<Counted> {
  const result = await client.query<{ id: string; failed: boolean }>(
    `WITH dead_claims AS (
       SELECT j.id FROM unnest($1::text[]) AS dead(name)
         JOIN ${jobs} j ON j.locked_by IS NOT NULL AND ${workerOf("j")} = dead.name
        WHERE j.locked_at < (now() AT TIME ZONE 'UTC') - $2 * interval '1 millisecond'
        FOR UPDATE OF j
     ), ${countedUnlock(jobs, counting.countsTable)}`,
    [names(dead), staleAfterMs, jobTable, counting.maxRescues, rescueLimitError(counting.maxRescues)],
  );
  return split(result.rows);
}

/** The delayed_job worker names of dead lease processes. */
export function names(dead: readonly DeadLeasePid[]): string[] {
  return dead.map((d) => workerNames(d.host, [d.pid])[0]!);
}
