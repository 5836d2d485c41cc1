import type { Client } from "../../postgres/client.js";
import type { RescueSupport } from "../adapter.js";
import { forgetCounts } from "../rescue-count.js";
import { workerName, workerNames } from "../worker-names.js";
import { hasWorkerIndex, releaseCounted, WORKER_NAME } from "./sql.js";

/**
 * delayed_job's part in leases and sweeps. `jobs` is the table quoted,
 * `jobTable` its name as the key of its jobs in jobguard's rescue counts.
 */
export function delayedJobRescue(jobs: string, jobTable: string): RescueSupport {
  return {
    async holding(client, host, pids) {
      const names = workerNames(host, pids);
      const held = await namesHoldingLocks(client, jobs, names);
      return new Set(pids.filter((_, i) => held.has(names[i]!)));
    },
    // Only locks older than stale-after: one taken after the lease's last
    // heartbeat shows the worker was alive then. A seek a name where the
    // recommended index is (the sweep has turned JIT off, sql.ts).
    rescue: async (client, dead, staleAfterMs, counting) =>
      releaseCounted(
        client,
        jobs,
        jobTable,
        dead.map((d) => ({ name: workerName(d.host, d.pid) })),
        staleAfterMs,
        counting,
        await hasWorkerIndex(client, jobs),
      ),
    async stillHolding(client, dead) {
      const names = dead.map((d) => workerName(d.host, d.pid));
      const held = await namesHoldingLocks(client, jobs, names);
      return new Set(dead.filter((_, i) => held.has(names[i]!)).map((d) => d.lease));
    },
    forgetCounts: (client, countsTable) => forgetCounts(client, countsTable, jobs, jobTable),
  };
}

/** Of these names, those under which a lock is held (a seek per name with the recommended index). */
async function namesHoldingLocks(
  client: Client,
  jobs: string,
  names: readonly string[],
): Promise<Set<string>> {
  const result = await client.query<{ name: string }>(
    `SELECT dead.name FROM unnest($1::text[]) AS dead(name)
      WHERE EXISTS (SELECT 1 FROM ${jobs} WHERE locked_by IS NOT NULL AND ${WORKER_NAME} = dead.name)`,
    [names],
  );
  return new Set(result.rows.map((row) => row.name));
}
