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
    rescue: solidQueueRescue(t),
  };
}
