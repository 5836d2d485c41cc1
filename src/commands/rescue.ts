import type { QueueConfig, RescueConfig } from "../config/config.js";
import { describeDatabase } from "../db/redact.js";
import { ensureSchema, leaseTables } from "../lease/schema.js";
import { sweep } from "../lease/sweep.js";
import type { TableOption } from "../queues/descriptor.js";
import { queueOf } from "../queues/descriptors.js";
import { loadAdapter } from "../queues/index.js";
import { withCommandConnection } from "./command-connection.js";
import { printLine } from "./printable.js";
import { tableStates } from "./tables.js";

// A queue's table setting, as the sentence of a missing table names it.
const TABLE_SETTING: Record<TableOption["key"], string> = {
  table: "JOBGUARD_TABLE",
  tablePrefix: "JOBGUARD_TABLE_PREFIX",
};

// A sweep takes about 2 s a dead lease on a million jobs without the
// recommended index; a connection gone silent must not keep a scheduled
// rescue waiting for ever.
const RESCUE_LIMIT_MS = 10 * 60_000;

/**
 * `jobguard rescue`: one sweep for dead dynos, for Heroku Scheduler, a cron job
 * or a release phase. Prints what it released; exits 0 unless it failed. In a
 * database without the queue's tables (the wrong URL, the wrong table
 * setting) it fails, and creates none of jobguard's tables there.
 */
export async function rescue(
  queue: QueueConfig,
  config: RescueConfig,
  env: NodeJS.ProcessEnv,
): Promise<number> {
  const out = printLine;
  const adapter = await loadAdapter(queue);
  const support = adapter.rescue!;
  const tables = leaseTables(config.leaseTable);
  return withCommandConnection(queue, env, RESCUE_LIMIT_MS, "jobguard rescue: ", out, async (client) => {
    const missing = (await tableStates(client, adapter.tables)).find((t) => !t.exists);
    if (missing) {
      const setting = queueOf(queue.kind)?.table?.key;
      out(
        `jobguard rescue: ${missing.use.table} (${missing.use.what}) does not exist in ${describeDatabase(queue.databaseUrl)}: set ${setting ? `${TABLE_SETTING[setting]} to match the queue's tables, or ` : ""}the database URL to the queue's database`,
      );
      return 1;
    }
    await ensureSchema(client, tables);
    const result = await sweep(client, support, tables, config);
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
    if (result.overruled.length)
      out(
        `  released although a tagged session is open (stale for 15 minutes more: a session the server has not found dead): ${result.overruled.join(",")}`,
      );
    if (result.waiting.length)
      out(
        `  stale, kept for a later sweep (they hold claims younger than stale-after): ${result.waiting.join(",")}`,
      );
    if (result.expired.length)
      out(`  removed without a release (no heartbeat for a day): ${result.expired.join(",")}`);
    return 0;
  });
}
