import type { Client } from "pg";
import type { RescueConfig } from "../config/config.js";
import type { DeadLeasePid, RescueSupport } from "../queues/adapter.js";
import type { LeaseTables } from "./schema.js";

/** What one sweep did. */
export interface SweepResult {
  /** False when this sweep did nothing, for the reason in `skipped`. */
  swept: boolean;
  skipped?: string;
  /** Jobs put back in the queue, by id. */
  released: string[];
  /** Jobs marked failed because they were rescued too often. */
  failed: string[];
  /** Stale leases removed. */
  leases: string[];
  /** Stale leases kept because their worker still has open sessions. */
  alive: string[];
  /** Stale leases kept because their worker's sessions carry no tag of jobguard's. */
  unprovable: string[];
}

/**
 * Rescues the jobs of dead dynos, in a bounded number of statements however
 * many leases died. Why a claim this releases is never a live worker's:
 *
 * 1. The lease is stale: its jobguard has not written a heartbeat for
 *    stale-after, by the database's own clock.
 * 2. The database was up and reachable all that time: some lease (a witness,
 *    perhaps the sweeper's own) has a fresh heartbeat and has reached the
 *    database without a break for at least stale-after. After an outage, a
 *    server restart or a failover, every jobguard's run of heartbeats starts
 *    anew, and by the time any of them is stale-after long, every living
 *    dyno has written its heartbeat again. The cost: when every dyno really
 *    died at once, their jobs wait until a jobguard has been back for
 *    stale-after.
 * 3. Its worker has no session open: every session of the worker tree carries
 *    the lease's tag as application_name, and PostgreSQL ends a session when
 *    its process dies. A worker that outlived its jobguard (only jobguard was
 *    killed) still has its sessions and keeps its lease and its claims.
 *    A lease whose sessions carry no tag (the user set PGAPPNAME) is never
 *    rescued, since its worker's death cannot be shown; nor is one whose
 *    jobguard never saw its worker's sessions, or saw signs of a pooler in
 *    between, through which a tag proves nothing (Leases.checkSessionsHeld).
 * 4. Only processes of the lease that no live lease of the same host claims:
 *    when a host name and pids come back after a reboot or in a new
 *    container, the new worker's lease claims them.
 * 5. The claim itself is older than stale-after (the queue's adapter sees to
 *    that): a claim taken after the last heartbeat is evidence the worker
 *    lived then, so it waits its own turn, and its lease stays until then.
 * 6. One sweeper at a time (a transaction-scoped advisory lock), and each
 *    stale lease is deleted in the transaction that releases its claims: a
 *    claim is released once, however many jobguards sweep together.
 *
 * A job rescued more than max-rescues times is marked failed instead: it is
 * most likely what kills its dynos (Heroku's R15), and must not crash-loop
 * the fleet. Kills at a deadline are not counted: they go through release/.
 */
export async function sweep(
  client: Client,
  queue: RescueSupport,
  tables: LeaseTables,
  config: RescueConfig,
): Promise<SweepResult> {
  const result: SweepResult = {
    swept: false,
    released: [],
    failed: [],
    leases: [],
    alive: [],
    unprovable: [],
  };
  // Nearly every sweep finds nothing: one read says so, without a transaction.
  const anyStale = await client.query(
    `SELECT EXISTS (SELECT 1 FROM ${tables.leases} WHERE ${stale("$1")}) AS stale`,
    [config.staleAfterMs],
  );
  if (!anyStale.rows[0].stale) return { ...result, swept: true };
  await client.query("BEGIN");
  try {
    const lock = await client.query(
      `SELECT pg_try_advisory_xact_lock(hashtext($1)) AS mine,
              EXISTS (SELECT 1 FROM ${tables.leases}
                       WHERE NOT (${stale("$2")}) AND reachable_since <= now() - $2 * interval '1 millisecond') AS witnessed`,
      [`${tables.lockKey} sweep`, config.staleAfterMs],
    );
    if (!lock.rows[0].witnessed || !lock.rows[0].mine) {
      await client.query("ROLLBACK");
      result.skipped = !lock.rows[0].mine
        ? "another jobguard is sweeping"
        : "no jobguard has reached the database without a break for stale-after: an outage or a failover may be just over, and stale leases may be living dynos";
      return result;
    }
    result.swept = true;
    const staleLeases = await client.query<{
      id: string;
      host: string;
      session_tag: string | null;
      sessions: number;
      dead_pids: number[];
    }>(
      `WITH tagged AS (
         SELECT application_name, count(*)::int AS n FROM pg_stat_activity GROUP BY application_name
       )
       SELECT l.id, l.host, l.session_tag, coalesce(t.n, 0) AS sessions,
              ARRAY(SELECT p FROM unnest(l.pids) AS p
                     WHERE NOT EXISTS (SELECT 1 FROM ${tables.leases} o
                                        WHERE o.host = l.host AND o.id <> l.id AND NOT (${stale("$1", "o.")}) AND p = ANY(o.pids))) AS dead_pids
         FROM ${tables.leases} l LEFT JOIN tagged t ON t.application_name = l.session_tag
        WHERE ${stale("$1", "l.")}
        ORDER BY l.heartbeat_at
          FOR UPDATE OF l`,
      [config.staleAfterMs],
    );
    const dead: DeadLeasePid[] = [];
    const deadLeases: string[] = [];
    for (const lease of staleLeases.rows) {
      if (!lease.session_tag) result.unprovable.push(lease.id);
      else if (lease.sessions > 0) result.alive.push(lease.id);
      else {
        deadLeases.push(lease.id);
        for (const pid of lease.dead_pids) dead.push({ lease: lease.id, host: lease.host, pid });
      }
    }
    if (deadLeases.length === 0) return await commit(client, result);
    const counting = { countsTable: tables.rescues, maxRescues: config.maxRescues };
    const rescued = await queue.rescue(client, dead, config.staleAfterMs, counting);
    result.released = rescued.ids;
    result.failed = rescued.failed ?? [];
    const holding = await queue.stillHolding(client, dead);
    result.leases = deadLeases.filter((id) => !holding.has(id));
    await client.query(`DELETE FROM ${tables.leases} WHERE id = ANY($1::text[])`, [result.leases]);
    if (result.released.length) await queue.forgetCounts(client, tables.rescues);
    return await commit(client, result);
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  }
}

async function commit(client: Client, result: SweepResult): Promise<SweepResult> {
  await client.query("COMMIT");
  return result;
}

/** A lease without a heartbeat for stale-after, given in milliseconds by the parameter `ms`. */
function stale(ms: string, alias = ""): string {
  return `${alias}heartbeat_at < now() - ${ms} * interval '1 millisecond'`;
}
