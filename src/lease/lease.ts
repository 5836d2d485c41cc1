import type { Client } from "pg";
import type { LeaseTables } from "./schema.js";

/** What a lease says about one running worker tree. */
export interface Lease {
  id: string;
  host: string;
  dyno: string | undefined;
  pids: number[];
  sessionTag: string | undefined;
}

/**
 * Writes the lease with a fresh heartbeat: one small UPDATE. `resumed` says
 * the previous heartbeat failed (or there was none): reachable_since starts
 * anew. Only the first
 * heartbeat, and the first after an outage long enough for another dyno to
 * have swept the lease as stale, inserts it. (An INSERT ... ON CONFLICT would
 * write a row lock to the WAL at every heartbeat.)
 */
export async function heartbeat(client: Client, tables: LeaseTables, lease: Lease, resumed: boolean): Promise<void> {
  const updated = await client.query(
    `UPDATE ${tables.leases} SET pids = $2, heartbeat_at = now(), reachable_since = CASE WHEN $3 THEN now() ELSE reachable_since END
      WHERE id = $1`,
    [lease.id, lease.pids, resumed],
  );
  if (updated.rowCount) return;
  await client.query(
    `INSERT INTO ${tables.leases} (id, host, dyno, pids, session_tag) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (id) DO UPDATE SET pids = EXCLUDED.pids, heartbeat_at = now(), reachable_since = now()`,
    [lease.id, lease.host, lease.dyno ?? null, lease.pids, lease.sessionTag ?? null],
  );
}

/** Removes the lease of a worker tree that ended and whose locks are released. */
export async function dropLease(client: Client, tables: LeaseTables, id: string): Promise<void> {
  await client.query(`DELETE FROM ${tables.leases} WHERE id = $1`, [id]);
}
