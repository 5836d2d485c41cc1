import type { Client } from "../postgres/client.js";
import { quoteTable } from "../db/sql.js";

/** jobguard's own tables: the leases, and the rescue count of each job. */
export interface LeaseTables {
  leases: string;
  rescues: string;
  /** The key of the advisory locks that make schema creation and sweeps one at a time. */
  lockKey: string;
}

/** The quoted names of the lease table and of its rescue-count companion (`<name>_rescues`). */
export function leaseTables(table: readonly string[]): LeaseTables {
  const rescues = [...table.slice(0, -1), `${table[table.length - 1]}_rescues`];
  return { leases: quoteTable(table), rescues: quoteTable(rescues), lockKey: `jobguard ${table.join(".")}` };
}

/**
 * Creates the tables on first use. CREATE TABLE IF NOT EXISTS alone is not
 * safe when 50 dynos boot at once (two creators can both pass the check and
 * collide in the catalog), so creation happens under a transaction-scoped
 * advisory lock.
 *
 * Schema:
 *   <leases>: one row per running jobguard with a queue with leases.
 *     id            text, primary key: random, unique to the run
 *     host          text: the host name the worker writes into its claims
 *     pid_namespace text: "<boot id>/<inode>" of the pid namespace the tree
 *                   runs in (two containers may share a host name and pids)
 *     dyno          text: $DYNO, when set (for people reading the table)
 *     pids          integer[]: the worker tree's pids, living or dead with a lock
 *     session_tag   text: the application_name of the worker's sessions, or
 *                   NULL when the user chose PGAPPNAME
 *     heartbeat_ms, stale_after_ms  integer: the timing the lease was written
 *                   with, by which every sweeper judges it (NULL: a jobguard
 *                   from before leases fenced themselves, never swept)
 *     started_at, heartbeat_at  timestamptz, by the database's clock
 *   <leases>_rescues: how often jobguard rescued each job from a dead dyno or a crashed worker.
 *     job_table text, job_id bigint (primary key together), rescues integer, last_rescued_at timestamptz
 */
export async function ensureSchema(client: Client, tables: LeaseTables): Promise<void> {
  // stale_after_ms came last: a table without it is brought up to date.
  const exists = await client.query<{ ok: boolean }>(
    `SELECT to_regclass($2) IS NOT NULL AND EXISTS (
       SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'stale_after_ms' AND NOT attisdropped
     ) AS ok`,
    [tables.leases, tables.rescues],
  );
  if (exists.rows[0]?.ok) return;
  await client.query("BEGIN");
  try {
    await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`${tables.lockKey} schema`]);
    await client.query(`CREATE TABLE IF NOT EXISTS ${tables.leases} (
      id text PRIMARY KEY,
      host text NOT NULL,
      dyno text,
      pids integer[] NOT NULL,
      session_tag text,
      started_at timestamptz NOT NULL DEFAULT now(),
      heartbeat_at timestamptz NOT NULL DEFAULT now()
    )`);
    await client.query(
      `ALTER TABLE ${tables.leases} ADD COLUMN IF NOT EXISTS pid_namespace text,
         ADD COLUMN IF NOT EXISTS heartbeat_ms integer, ADD COLUMN IF NOT EXISTS stale_after_ms integer`,
    );
    await client.query(`CREATE TABLE IF NOT EXISTS ${tables.rescues} (
      job_table text NOT NULL,
      job_id bigint NOT NULL,
      rescues integer NOT NULL,
      last_rescued_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (job_table, job_id)
    )`);
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  }
}
