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
 * anew. Only the first heartbeat, and the first after an outage long enough
 * for another dyno to have swept the lease as stale, inserts it. (An
 * INSERT ... ON CONFLICT would write a row lock to the WAL at every heartbeat.)
 */
export async function heartbeat(
  client: Client,
  tables: LeaseTables,
  lease: Lease,
  resumed: boolean,
): Promise<void> {
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

/** What a heartbeat sees of the worker's sessions and of its own path to the server. */
export interface SessionEvidence {
  /** Sessions carrying the worker's tag. */
  sessions: number;
  /** Of those, sessions from another client address than jobguard's own: a pooler's server connections. */
  elsewhere: number;
  /**
   * jobguard's own connection goes through a pooler: the backend it talks to
   * is not the one whose pid the server announced at connect (PgBouncer and
   * other poolers announce one of their own, a plain proxy passes it on).
   */
  pooled: boolean;
}

/** One read of pg_stat_activity for the tag, beside the server's view of this connection. */
export async function sessionEvidence(client: Client, tag: string): Promise<SessionEvidence> {
  const result = await client.query<{ backend: number; sessions: number; elsewhere: number }>(
    `SELECT pg_backend_pid() AS backend,
            count(*) FILTER (WHERE application_name = $1)::int AS sessions,
            count(*) FILTER (WHERE application_name = $1 AND client_addr IS DISTINCT FROM inet_client_addr())::int AS elsewhere
       FROM pg_stat_activity`,
    [tag],
  );
  const { backend, sessions, elsewhere } = result.rows[0]!;
  const announced = (client as Client & { processID?: number | null }).processID;
  return { sessions, elsewhere, pooled: announced !== backend };
}

/**
 * Sets the tag a sweep looks for (sweep.ts, 3), or takes it off (null): a
 * lease without one is unprovable, and never rescued. See Leases.checkSessionsHeld.
 */
export async function setSessionTag(
  client: Client,
  tables: LeaseTables,
  id: string,
  tag: string | null,
): Promise<void> {
  await client.query(`UPDATE ${tables.leases} SET session_tag = $2 WHERE id = $1`, [id, tag]);
}
