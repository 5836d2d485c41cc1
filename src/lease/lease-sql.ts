import type { Client } from "../postgres/client.js";
import type { LeaseTables } from "./schema.js";

/** What a lease says about one running worker tree, and the timing it was written with. */
export interface Lease {
  id: string;
  host: string;
  pidNamespace: string | undefined;
  dyno: string | undefined;
  pids: number[];
  sessionTag: string | undefined;
  heartbeatMs: number;
  staleAfterMs: number;
}

/**
 * Renews the lease: one small UPDATE. False when there is no row to renew:
 * none was written yet, or a sweep has removed it.
 */
export async function renewLease(client: Client, tables: LeaseTables, lease: Lease): Promise<boolean> {
  const updated = await client.query(
    `UPDATE ${tables.leases} SET pids = $2, heartbeat_at = now() WHERE id = $1`,
    [lease.id, lease.pids],
  );
  return updated.rowCount === 1;
}

/**
 * Writes the lease for the first time. (An INSERT ... ON CONFLICT at every
 * heartbeat would write a row lock to the WAL each time.) A first write that
 * timed out may have been committed, so a retry finds the row already there.
 */
export async function insertLease(client: Client, tables: LeaseTables, lease: Lease): Promise<void> {
  await client.query(
    `INSERT INTO ${tables.leases} (id, host, pid_namespace, dyno, pids, session_tag, heartbeat_ms, stale_after_ms)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (id) DO UPDATE SET pids = EXCLUDED.pids, heartbeat_at = now()`,
    [
      lease.id,
      lease.host,
      lease.pidNamespace ?? null,
      lease.dyno ?? null,
      lease.pids,
      lease.sessionTag ?? null,
      lease.heartbeatMs,
      lease.staleAfterMs,
    ],
  );
}

/** Removes the lease of a worker tree that ended and whose locks are released. */
export async function dropLease(client: Client, tables: LeaseTables, id: string): Promise<void> {
  await client.query(`DELETE FROM ${tables.leases} WHERE id = $1`, [id]);
}

/** The stale-after of jobguards from before leases carried their timing: their default. */
const LEGACY_STALE_AFTER_MS = 60_000;

/** A lease judged by its own timing: written by a jobguard that fences itself, and not renewed for its stale-after. */
export function staleLease(alias: string): string {
  return `(${alias}.stale_after_ms IS NOT NULL AND ${alias}.heartbeat_at < now() - ${alias}.stale_after_ms * interval '1 millisecond')`;
}

/**
 * Whether a live lease of this host name runs in another pid namespace (or
 * another boot): its worker may have any pid this tree had, and lock under
 * the same "host:H pid:P". A namespace unknown on either side (an older
 * jobguard's lease, a system that does not show it) counts as another.
 */
export async function hostShared(
  client: Client,
  tables: LeaseTables,
  host: string,
  pidNamespace: string | undefined,
  id: string,
): Promise<boolean> {
  const result = await client.query<{ shared: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM ${tables.leases} l
                     WHERE l.host = $1 AND l.id <> $3
                       AND (l.pid_namespace IS NULL OR $2::text IS NULL OR l.pid_namespace <> $2::text)
                       AND l.heartbeat_at > now() - coalesce(l.stale_after_ms, ${LEGACY_STALE_AFTER_MS}) * interval '1 millisecond') AS shared`,
    [host, pidNamespace ?? null, id],
  );
  return result.rows[0]?.shared === true;
}
