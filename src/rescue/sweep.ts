import type { Client } from "pg";
import type { RescueConfig } from "../config/config.js";
import { lockedUnder, quoteTable } from "../release/delayed-job.js";
import { countedRelease, rescueLimitError } from "./count.js";
import type { LeaseTables } from "./schema.js";

/** What one sweep did. */
export interface SweepResult {
  /** False when this sweep did nothing, for the reason in `skipped`. */
  swept: boolean;
  skipped?: string;
  /** Jobs put back in the queue, by id. */
  released: number[];
  /** Jobs marked failed because they were rescued too often. */
  failed: number[];
  /** Stale leases removed. */
  leases: string[];
  /** Stale leases kept because their worker still has open sessions. */
  alive: string[];
  /** Stale leases kept because their worker's sessions carry no tag of jobguard's. */
  unprovable: string[];
}

/**
 * Rescues the jobs of dead dynos. Why a lock this releases is never a live
 * worker's:
 *
 * 1. The lease is stale: its jobguard has not written a heartbeat for
 *    stale-after, by the database's own clock.
 * 2. Its worker has no session open: every session of the worker tree carries
 *    the lease's tag as application_name, and PostgreSQL ends a session when
 *    its process dies. A worker that outlived its jobguard (only jobguard was
 *    killed) still has its sessions and keeps its lease and its locks.
 *    A lease whose sessions carry no tag (the user set PGAPPNAME) is never
 *    rescued, since its worker's death cannot be shown.
 * 3. A lock is taken only if its name is exactly "host:<lease host> pid:<a pid
 *    of the lease>" (after any prefix), and no live lease of the same host
 *    holds that pid: when a host name and pids come back after a reboot or in
 *    a new container, the new worker's lease claims them.
 * 4. The lock itself is older than stale-after: a lock taken after the last
 *    heartbeat is evidence the worker lived then, so it waits its own turn.
 * 5. One sweeper at a time (a transaction-scoped advisory lock), and each
 *    stale lease is deleted in the transaction that releases its jobs: a lock
 *    is released once, however many jobguards sweep together.
 * 6. No sweep while the server has been up for less than stale-after: after a
 *    restart or failover every lease looks stale and no worker has a session
 *    yet, though they are alive and about to reconnect. (The supervisor's own
 *    sweeps also wait until it has reached the database for stale-after
 *    without a break: see Leases.)
 *
 * A job rescued more than max-rescues times is marked failed instead: it is
 * most likely what kills its dynos (Heroku's R15), and must not crash-loop
 * the fleet (a worker that crashes alone counts too: see crash.ts). Kills at
 * a deadline are not counted: they go through release/.
 */
export async function sweep(client: Client, jobs: readonly string[], tables: LeaseTables, config: RescueConfig): Promise<SweepResult> {
  const result: SweepResult = { swept: false, released: [], failed: [], leases: [], alive: [], unprovable: [] };
  // Nearly every sweep finds nothing: one read says so, without a transaction.
  const anyStale = await client.query(`SELECT EXISTS (SELECT 1 FROM ${tables.leases} WHERE ${STALE}) AS stale`, [config.staleAfterMs]);
  if (!anyStale.rows[0].stale) return { ...result, swept: true };
  await client.query("BEGIN");
  try {
    const lock = await client.query(
      `SELECT pg_postmaster_start_time() > now() - $2 * interval '1 millisecond' AS young,
              pg_try_advisory_xact_lock(hashtext($1)) AS mine`,
      [`${tables.lockKey} sweep`, config.staleAfterMs],
    );
    if (lock.rows[0].young || !lock.rows[0].mine) {
      await client.query("ROLLBACK");
      result.skipped = lock.rows[0].young ? "the database server started less than stale-after ago" : "another jobguard is sweeping";
      return result;
    }
    result.swept = true;
    const stale = await client.query<{ id: string; host: string; pids: number[]; session_tag: string | null }>(
      `SELECT id, host, pids, session_tag FROM ${tables.leases} WHERE ${STALE} ORDER BY heartbeat_at FOR UPDATE`,
      [config.staleAfterMs],
    );
    for (const lease of stale.rows) {
      if (!lease.session_tag) {
        result.unprovable.push(lease.id);
        continue;
      }
      const sessions = await client.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1", [lease.session_tag]);
      if (sessions.rows[0].n > 0) {
        result.alive.push(lease.id);
        continue;
      }
      const rescued = await client.query<{ id: string; failed: boolean }>(rescueSql(jobs, tables), [
        lease.id,
        lease.host,
        lease.pids,
        config.staleAfterMs,
        config.maxRescues,
        jobs.join("."),
        rescueLimitError(config.maxRescues, lease.host),
      ]);
      for (const row of rescued.rows) (row.failed ? result.failed : result.released).push(Number(row.id));
      // A lease whose worker locked a job after its last heartbeat stays until that lock is old enough.
      const left = await client.query(
        `WITH ${namesCte(tables)} SELECT EXISTS (SELECT 1 FROM ${quoteTable(jobs)} j WHERE ${lockedUnder("ARRAY(SELECT name FROM names)")}) AS held`,
        [lease.id, lease.host, lease.pids, config.staleAfterMs],
      );
      if (left.rows[0].held) continue;
      await client.query(`DELETE FROM ${tables.leases} WHERE id = $1`, [lease.id]);
      result.leases.push(lease.id);
    }
    // Forget the counts of jobs that are gone (done or deleted), when there is something to forget.
    if (result.released.length) await client.query(
      `DELETE FROM ${tables.rescues} r WHERE r.job_table = $1 AND NOT EXISTS (SELECT 1 FROM ${quoteTable(jobs)} j WHERE j.id = r.job_id)`,
      [jobs.join(".")],
    );
    await client.query("COMMIT");
    return result;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  }
}

// A lease without a heartbeat for stale-after ($1, ms).
const STALE = "heartbeat_at < now() - $1 * interval '1 millisecond'";

// The worker names of a stale lease that no live lease of its host claims.
// $1 lease id, $2 host, $3 pids, $4 stale-after (ms).
function namesCte(tables: LeaseTables): string {
  return `live_pids AS (
      SELECT unnest(pids) AS pid FROM ${tables.leases}
       WHERE host = $2 AND id <> $1 AND heartbeat_at >= now() - $4 * interval '1 millisecond'
    ), names AS (
      SELECT 'host:' || $2 || ' pid:' || pid AS name FROM unnest($3::int[]) AS pid
       WHERE pid NOT IN (SELECT pid FROM live_pids)
    )`;
}

// $1-$4 as for namesCte, $5 max rescues, $6 job table name, $7 last_error text.
function rescueSql(jobs: readonly string[], tables: LeaseTables): string {
  return `
    WITH ${namesCte(tables)}, dead_locks AS (
      SELECT j.id FROM ${quoteTable(jobs)} j
       WHERE ${lockedUnder("ARRAY(SELECT name FROM names)")}
         AND j.locked_at < (now() AT TIME ZONE 'UTC') - $4 * interval '1 millisecond'
       FOR UPDATE OF j
    ), ${countedRelease(jobs, tables, { jobTable: "$6", max: "$5", lastError: "$7" })}`;
}
