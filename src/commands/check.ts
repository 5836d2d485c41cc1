import { hostname } from "node:os";
import type { Client } from "../postgres/client.js";
import type { QueueConfig } from "../config/config.js";
import { describeDatabase } from "../db/redact.js";
import { isDead, readProcess } from "../process-tree/proc.js";
import type { CheckHost, QueueAdapter } from "../queues/adapter.js";
import type { TableOption } from "../queues/descriptor.js";
import { queueOf } from "../queues/descriptors.js";
import { loadAdapter, loadRedisAdapter } from "../queues/index.js";
import { describeRedis } from "../redis/options.js";
import { withCommandConnection } from "./command-connection.js";
import { withRedisCommand } from "./redis-connection.js";
import { checkLeaseTables } from "./lease-check.js";
import { printLine } from "./printable.js";
import { reportTables, tableStates } from "./tables.js";

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
 * `jobguard check`: would a release and a rescue work, and which jobs are
 * claimed by whom? Meant for a release phase or a human. Exits 0 when all is
 * well, 1 when something needs attention: a database that cannot be written,
 * a missing table or privilege, a release statement that does not fit,
 * claims of this host's gone processes. It reads and prepares, never writes.
 */
export async function check(queue: QueueConfig | undefined, env: NodeJS.ProcessEnv): Promise<number> {
  const out = printLine;
  if (!queue) {
    out(
      "jobguard check: no queue configured (JOBGUARD_QUEUE): jobguard supervises only and never touches a database",
    );
    return 0;
  }
  if (queue.store === "redis") {
    out(`jobguard check: queue=${queue.kind} redis=${describeRedis(queue.databaseUrl)}`);
    const adapter = await loadRedisAdapter(queue, env);
    return withRedisCommand(queue, CHECK_LIMIT_MS, "error: ", out, (redis) =>
      adapter.check(redis, out, THIS_HOST),
    );
  }
  const tableKey = queueOf(queue.kind)?.table?.key;
  const table = tableKey && queue.table ? ` ${TABLE_SETTING[tableKey]}=${queue.table.join(".")}` : "";
  out(`jobguard check: queue=${queue.kind} database=${describeDatabase(queue.databaseUrl)}${table}`);
  const adapter = await loadAdapter(queue);
  const problems = await withCommandConnection(queue, env, CHECK_LIMIT_MS, "error: ", out, (client) =>
    checkAll(client, queue, adapter, out),
  );
  out(problems ? "jobguard check: needs attention" : "jobguard check: all is well");
  return problems ? 1 : 0;
}

/** Every check on one connection; resolves the number of problems. */
async function checkAll(
  client: Client,
  queue: QueueConfig,
  adapter: QueueAdapter,
  out: (line: string) => void,
): Promise<number> {
  const session = await client.query<{ role: string; read_only: boolean }>(
    `SELECT quote_ident(current_user) AS role,
            pg_is_in_recovery() OR current_setting('transaction_read_only') = 'on' AS read_only`,
  );
  const { role, read_only } = session.rows[0]!;
  let problems = 0;
  if (read_only) {
    out(
      "error: the database is read-only (a standby, or default_transaction_read_only): no release can write",
    );
    problems++;
  }
  const tables = await tableStates(client, adapter.tables);
  problems += reportTables(tables, role, out);
  // The queue's own listing reads its tables: without them it would only repeat the error.
  if (tables.every((t) => t.exists)) problems += await adapter.check(client, out, THIS_HOST);
  if (queue.rescue) problems += await checkLeaseTables(client, queue.rescue, role, out);
  return problems;
}
