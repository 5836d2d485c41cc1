import type { Client } from "pg";
import type { RescueConfig } from "../config/config.js";
import { DEAD_PROCESSES, deadParams, HELD_BY_DEAD, quoteTable } from "../release/delayed-job.js";
import type { DeadProcess } from "../process-tree/tree-history.js";
import { countedRelease, rescueLimitError } from "./count.js";
import { ensureSchema, leaseTables } from "./schema.js";

/** What a release after a crash did: jobs put back, and jobs marked failed. */
export interface CrashRelease {
  released: number[];
  failed: number[];
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
  jobs: readonly string[],
  config: RescueConfig,
  host: string,
  dead: readonly DeadProcess[],
): Promise<CrashRelease> {
  const tables = leaseTables(config.leaseTable);
  await ensureSchema(client, tables);
  const result = await client.query<{ id: string; failed: boolean }>(
    `WITH dead_locks AS (
       SELECT j.id FROM ${quoteTable(jobs)} j, ${DEAD_PROCESSES} WHERE ${HELD_BY_DEAD} FOR UPDATE OF j
     ), ${countedRelease(jobs, tables, { jobTable: "$3", max: "$4", lastError: "$5" })}`,
    [...deadParams(host, dead), jobs.join("."), config.maxRescues, rescueLimitError(config.maxRescues, host)],
  );
  const crash: CrashRelease = { released: [], failed: [] };
  for (const row of result.rows) (row.failed ? crash.failed : crash.released).push(Number(row.id));
  return crash;
}
