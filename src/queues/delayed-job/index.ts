import { quoteTable } from "../../db/sql.js";
import type { QueueAdapter } from "../adapter.js";
import { forgetCounts } from "../rescue-count.js";
import { checkDelayedJobs } from "./check.js";
import { names, releaseAfterCrash, rescueDeadLeases } from "./rescue.js";
import { namesHoldingLocks, releaseDelayedJobs, workerNames } from "./sql.js";

/** delayed_job (delayed_job_active_record): locks are the worker's name in locked_by. */
export function delayedJob(table: readonly string[]): QueueAdapter {
  const jobs = quoteTable(table);
  // The key of this table's jobs in jobguard's rescue counts.
  const jobTable = table.join(".");
  return {
    async release(client, worker, counting) {
      if (worker.dead.length === 0) return { count: 0, ids: [] };
      if (counting) {
        const { released, failed } = await releaseAfterCrash(client, jobs, jobTable, worker, counting);
        return { count: released.length, ids: released, failed };
      }
      const ids = await releaseDelayedJobs(client, jobs, worker.host, worker.dead);
      return { count: ids.length, ids };
    },

    check: (client, out, host) => checkDelayedJobs(client, table, jobs, host, out),

    rescue: {
      async holding(client, host, pids) {
        const byPid = workerNames(host, pids);
        const held = await namesHoldingLocks(client, jobs, byPid);
        return new Set(pids.filter((_, i) => held.has(byPid[i]!)));
      },
      async rescue(client, dead, staleAfterMs, counting) {
        const { released, failed } = await rescueDeadLeases(
          client,
          jobs,
          jobTable,
          dead,
          staleAfterMs,
          counting,
        );
        return { count: released.length, ids: released, failed };
      },
      async stillHolding(client, dead) {
        const byPid = names(dead);
        const held = await namesHoldingLocks(client, jobs, byPid);
        return new Set(dead.filter((_, i) => held.has(byPid[i]!)).map((d) => d.lease));
      },
      forgetCounts: (client, countsTable) => forgetCounts(client, countsTable, jobs, jobTable),
    },
  };
}
