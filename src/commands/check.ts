import { hostname } from "node:os";
import type { QueueConfig } from "../config/config.js";
import { describeDatabase } from "../db/redact.js";
import { isDead, readProcess } from "../process-tree/proc.js";
import type { CheckHost } from "../queues/adapter.js";
import type { TableOption } from "../queues/descriptor.js";
import { queueOf } from "../queues/descriptors.js";
import { loadAdapter } from "../queues/index.js";
import { withCommandConnection } from "./command-connection.js";

// Listing the locked jobs reads every locked row where the recommended index
// is missing: a minute is plenty, and a connection gone silent must not keep
// a release phase waiting for ever.
const CHECK_LIMIT_MS = 60_000;

// A queue's table setting as check names it: its variable without JOBGUARD_.
const TABLE_SETTING: Record<TableOption["key"], string> = { table: "table", tablePrefix: "table_prefix" };

/** This host, as the adapters' checks see it: a claim of a pid no process holds here is stale. */
const THIS_HOST: CheckHost = {
  name: hostname(),
  isRunning(pid) {
    const process = readProcess(pid);
    return process !== undefined && !isDead(process);
  },
};

/**
 * `jobguard check`: is the configuration sound and the database reachable, and
 * which jobs are claimed by whom? Meant for a release phase or a human. Exits 0
 * when all is well, 1 when something needs attention.
 */
export async function check(queue: QueueConfig | undefined, env: NodeJS.ProcessEnv): Promise<number> {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  if (!queue) {
    out(
      "jobguard check: no queue configured (JOBGUARD_QUEUE): jobguard supervises only and never touches a database",
    );
    return 0;
  }
  const tableKey = queueOf(queue.kind)?.table?.key;
  const table = tableKey && queue.table ? ` ${TABLE_SETTING[tableKey]}=${queue.table.join(".")}` : "";
  out(`jobguard check: queue=${queue.kind} database=${describeDatabase(queue.databaseUrl)}${table}`);
  return withCommandConnection(queue, env, CHECK_LIMIT_MS, "error: ", out, async (client) =>
    (await loadAdapter(queue)).check(client, out, THIS_HOST),
  );
}
