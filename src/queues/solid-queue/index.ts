import type { QueueAdapter } from "../adapter.js";
import { checkSolidQueue } from "./check.js";
import { releaseDeadProcesses } from "./release.js";
import { solidQueueRescue } from "./rescue.js";
import { solidQueueTables } from "./tables.js";

/** Solid Queue 1.x on PostgreSQL: claims are rows of claimed_executions, by process row. */
export function solidQueue(prefix: readonly string[]): QueueAdapter {
  const t = solidQueueTables(prefix);
  return {
    release: (client, worker, counting) => releaseDeadProcesses(client, t, worker, counting),
    check: (client, out, host) => checkSolidQueue(client, t, host, out),
    // The release deletes the claims and the dead processes, and puts the jobs back in ready_executions
    // (or, after max-rescues, in failed_executions).
    tables: [
      { table: t.jobs, what: "Solid Queue's jobs table", privileges: ["SELECT"] },
      { table: t.processes, what: "Solid Queue's processes table", privileges: ["SELECT", "DELETE"] },
      { table: t.claimed, what: "Solid Queue's claimed executions", privileges: ["SELECT", "DELETE"] },
      { table: t.ready, what: "Solid Queue's ready executions", privileges: ["INSERT"] },
      { table: t.failed, what: "Solid Queue's failed executions", privileges: ["INSERT"] },
    ],
    rescue: solidQueueRescue(t),
  };
}
