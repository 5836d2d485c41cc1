import type { Client } from "../../postgres/client.js";
import type { DeadProcess } from "../../process-tree/tree-history.js";
import type { DeadWorker, Released, RescueCounting } from "../adapter.js";
import { workerName } from "../worker-names.js";
import { deadColumns, releaseCounted, WORKER_NAME, type DeadName } from "./sql.js";

/**
 * Unlocks the jobs that these dead processes of this host had locked. A job
 * another worker has locked since carries that worker's name and is left
 * alone; so is a lock under a pid that a newer process took, if taken after
 * that process started. attempts and run_at stay as they are, so the job runs
 * again at once.
 */
export async function releaseDelayedJobs(
  client: Client,
  jobs: string,
  host: string,
  dead: readonly Pick<DeadProcess, "pid" | "reusedSince">[],
): Promise<string[]> {
  const result = await client.query<{ id: string }>(
    `UPDATE ${jobs} SET locked_at = NULL, locked_by = NULL
       FROM unnest($1::text[], $2::timestamptz[]) AS dead(name, reused_since)
      WHERE locked_by IS NOT NULL AND ${WORKER_NAME} = dead.name
        AND (dead.reused_since IS NULL OR locked_at < dead.reused_since AT TIME ZONE 'UTC')
      RETURNING id`,
    deadColumns(deadNames(host, dead)),
  );
  return result.rows.map((row) => String(row.id));
}

/**
 * Releases the locks of a worker that died on its own, with no shutdown
 * under way (the OOM killer took the worker but not jobguard, a segfault).
 * Like a dead dyno, that counts as a rescue of its jobs: a job that kills
 * its worker each time it runs is marked failed after max-rescues, rather
 * than run again at once, forever.
 */
export function releaseAfterCrash(
  client: Client,
  jobs: string,
  jobTable: string,
  worker: DeadWorker,
  counting: RescueCounting,
): Promise<Released> {
  return releaseCounted(client, jobs, jobTable, deadNames(worker.host, worker.dead), null, counting);
}

function deadNames(host: string, dead: readonly Pick<DeadProcess, "pid" | "reusedSince">[]): DeadName[] {
  return dead.map((d) => ({ name: workerName(host, d.pid), reusedSince: d.reusedSince }));
}
