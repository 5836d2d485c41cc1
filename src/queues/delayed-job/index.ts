import { quoteTable } from "../../db/sql.js";
import type { QueueAdapter } from "../adapter.js";
import { checkDelayedJobs } from "./check.js";
import { releaseAfterCrash, releaseDelayedJobs } from "./release.js";
import { delayedJobRescue } from "./rescue.js";

/** delayed_job (delayed_job_active_record): locks are the worker's name in locked_by. */
export function delayedJob(table: readonly string[]): QueueAdapter {
  const jobs = quoteTable(table);
  // The key of this table's jobs in jobguard's rescue counts.
  const jobTable = table.join(".");
  return {
    async release(client, worker, counting) {
      if (worker.dead.length === 0) return { count: 0, ids: [] };
      if (counting) return releaseAfterCrash(client, jobs, jobTable, worker, counting);
      const ids = await releaseDelayedJobs(client, jobs, worker.host, worker.dead);
      return { count: ids.length, ids };
    },
    check: (client, out, host) => checkDelayedJobs(client, table, jobs, host, out),
    // Unlocking, and marking failed after max-rescues: UPDATE; the sweep's FOR UPDATE needs it too.
    tables: [{ table: jobs, what: "delayed_job's jobs table", privileges: ["SELECT", "UPDATE"] }],
    rescue: delayedJobRescue(jobs, jobTable),
  };
}
