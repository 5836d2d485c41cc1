import type { QueueConfig } from "../config/config.js";
import { ensureSchema, leaseTables } from "../lease/schema.js";
import { sweep } from "../lease/sweep.js";
import { QUEUES } from "../queues/descriptors.js";
import { loadAdapter } from "../queues/index.js";
import { withCommandConnection } from "./command-connection.js";

// A sweep takes about 2 s a dead lease on a million jobs without the
// recommended index; a connection gone silent must not keep a scheduled
// rescue waiting for ever.
const RESCUE_LIMIT_MS = 10 * 60_000;

/**
 * `jobguard rescue`: one sweep for dead dynos, for Heroku Scheduler, a cron job
 * or a release phase. Prints what it released; exits 0 unless it failed.
 */
export async function rescue(queue: QueueConfig | undefined, env: NodeJS.ProcessEnv): Promise<number> {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const adapter = queue?.rescue && (await loadAdapter(queue)).rescue;
  if (!queue?.rescue || !adapter) {
    const leased = QUEUES.filter((q) => q.leases).map((q) => q.kind);
    out(`jobguard rescue: needs a queue with leases (JOBGUARD_QUEUE=${leased.join(" or ")}) and a database`);
    return 1;
  }
  const config = queue.rescue;
  const tables = leaseTables(config.leaseTable);
  return withCommandConnection(queue, env, RESCUE_LIMIT_MS, "jobguard rescue: ", out, async (client) => {
    await ensureSchema(client, tables);
    const result = await sweep(client, adapter, tables, config);
    if (!result.swept) {
      out(`jobguard rescue: nothing done: ${result.skipped}`);
      return 0;
    }
    out(
      `jobguard rescue: ${result.leases.length} dead lease(s) removed, ${result.released.length} job(s) released, ${result.failed.length} marked failed`,
    );
    if (result.released.length) out(`  released: ${result.released.join(",")}`);
    if (result.failed.length)
      out(`  failed (rescued more than ${config.maxRescues} times): ${result.failed.join(",")}`);
    if (result.alive.length)
      out(`  stale but alive (a session carrying their worker's tag is open): ${result.alive.join(",")}`);
    if (result.waiting.length)
      out(
        `  stale, kept for a later sweep (they hold claims younger than stale-after): ${result.waiting.join(",")}`,
      );
    if (result.expired.length)
      out(`  removed without a release (no heartbeat for a day): ${result.expired.join(",")}`);
    return 0;
  });
}
