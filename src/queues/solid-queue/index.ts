import type { QueueAdapter } from "../adapter.js";
import { forgetCounts } from "../rescue-count.js";
import { checkSolidQueue } from "./check.js";
import { releaseDeadProcesses } from "./release.js";
import { leasesStillRegistered, registeredPids, rescueDeadLeases } from "./rescue.js";
import { solidQueueTables } from "./tables.js";

/** Solid Queue 1.x on PostgreSQL: claims are rows of claimed_executions, by process row. */
export function solidQueue(prefix: readonly string[]): QueueAdapter {
  const t = solidQueueTables(prefix);
  return {
    release: (client, worker, counting) => releaseDeadProcesses(client, t, worker, counting),
    check: (client, out, host) => checkSolidQueue(client, t, host, out),
    rescue: {
      holding: (client, host, pids) => registeredPids(client, t, host, pids),
      rescue: (client, dead, staleAfterMs, counting) =>
        rescueDeadLeases(client, t, dead, staleAfterMs, counting),
      stillHolding: (client, dead) => leasesStillRegistered(client, t, dead),
      forgetCounts: (client, countsTable) => forgetCounts(client, countsTable, t.jobs, t.jobTable),
    },
  };
}
