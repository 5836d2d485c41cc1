import type { Client } from "../postgres/client.js";
import type { RescueConfig } from "../config/config.js";
import type { DeadLeasePid, RescueSupport } from "../queues/adapter.js";
import { JIT_OFF } from "../db/sql.js";
import { staleLease } from "./lease-sql.js";
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
  /** Stale leases removed, their claims handed back. */
  leases: string[];
  /** Stale leases kept: a session carrying their worker's tag is open, so the worker may live. */
  alive: string[];
  /**
   * Stale leases released although a tagged session is open: stale for
   * VETO_MS more, that session is most likely one the server has not yet
   * found dead (a host that failed sends no FIN; TCP keepalive takes hours).
   */
  overruled: string[];
  /** Stale leases kept: they hold claims too young to release yet (5, below); a later sweep takes them. */
  waiting: string[];
  /** Leases removed without a release: a day without a heartbeat (alive all along, or from an older jobguard). */
  expired: string[];
}

/** A lease without a heartbeat for a day (or twice its stale-after) leaves the table whatever it holds: its claims are the queue's own timeout's by then. */
const EXPIRE_MS = 24 * 60 * 60 * 1000;

/** How long past its stale-after a tagged session keeps a lease. */
const VETO_MS = 15 * 60 * 1000;

/**
 * Rescues the jobs of dead dynos, in a bounded number of statements however
 * many leases died. Why a claim this releases is never one whose worker may
 * still run it:
 *
 * 1. The lease is stale by its own timing: the database's clock has passed
 *    its last heartbeat by the stale-after it was written with. Every
 *    sweeper judges it so, whatever its own settings.
 * 2. Its worker tree is gone. Its jobguard fences itself (fence.ts): it
 *    stops its worker once stale-after less the grace and a second has passed
 *    since it sent the newest renewal confirmed the replication lag (2 s)
 *    before it sent its latest confirmed one, and the shutdown ends the tree
 *    within the grace. The database stamped that renewal after jobguard sent
 *    it, so by the time the lease is stale, the tree has been gone a second.
 *    This holds through an outage, a server restart, a failover that lost
 *    the renewals of the standby's lag, a dyno cut off from the database and
 *    a pooler in between, since it asks nothing of the database but its
 *    clock. If jobguard dies, its watchdog ends the tree within the grace as
 *    well.
 * 3. No session carries the worker's tag (its application_name): what is
 *    left when jobguard and its watchdog both die and the worker lives on.
 *    A tagged session only ever keeps a lease (`alive`), for at most 15
 *    minutes past its stale-after (`overruled`: the session of a host that
 *    failed lingers until the server's TCP keepalive, hours); its absence is
 *    never needed to release one. A worker that holds no connection then, or
 *    set PGAPPNAME itself, is not seen by this; a pooler may keep a dead
 *    worker's tag on a server connection, which only delays its rescue.
 * 4. Only pids of the lease that no live lease of the same host claims: a
 *    host name and pids that came back after a reboot, in a new container,
 *    or in another pid namespace belong to that lease's tree, whose release
 *    hands back what is held under those names when it ends.
 * 5. Only claims older than the dead leases' stale-after (the queue's
 *    adapter sees to that): a younger claim under a dead tree's name was taken
 *    by a process the tree's lease did not know of, such as a new worker in
 *    another pid namespace of the same host name. A lease waits (`waiting`)
 *    while it holds such claims.
 * 6. One sweeper at a time (a transaction-scoped advisory lock), and each
 *    stale lease is deleted in the transaction that releases its claims: a
 *    claim is released once, however many jobguards sweep together.
 *
 * What it assumes: the database's clock does not step and runs at about the
 * rate of the dynos' (a second of margin over stale-after), and a failover
 * loses no renewal committed more than the replication lag (2 s,
 * config/rescue.ts) or a heartbeat before the latest. What it costs: a dyno that cannot
 * renew its lease for that long stops its worker (docs/rescue.md).
 *
 * A job rescued more than max-rescues times is marked failed instead: it is
 * most likely what kills its dynos (Heroku's R15), and must not crash-loop
 * the fleet. Kills at a deadline are not counted: they go through release/.
 * Every lease leaves the table: released, or after a day without a heartbeat.
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
    overruled: [],
    waiting: [],
    expired: [],
  };
  // Nearly every sweep finds nothing: one read says so, without a transaction.
  const any = await client.query<{ found: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM ${tables.leases} l
                     WHERE ${staleLease("l")} OR l.heartbeat_at < now() - $1 * interval '1 millisecond') AS found`,
    [EXPIRE_MS],
  );
  if (!any.rows[0]?.found) return { ...result, swept: true };
  await client.query("BEGIN");
  try {
    // JIT off for the sweep's statements (db/sql.ts), in the same round trip.
    const lock = await client.query<{ mine: boolean }>(
      `SELECT pg_try_advisory_xact_lock(hashtext($1)) AS mine, ${JIT_OFF} AS jit`,
      [`${tables.lockKey} sweep`],
    );
    if (!lock.rows[0]?.mine) {
      await client.query("ROLLBACK");
      return { ...result, skipped: "another jobguard is sweeping" };
    }
    result.swept = true;
    // The stale leases, each with its pids that no live lease of its host
    // claims (4): one anti-join for all of them, which reads the lease table
    // once, rather than a read of it for every pid of every stale lease.
    const staleLeases = await client.query<{
      id: string;
      host: string;
      stale_after_ms: number;
      sessions: number;
      vetoable: boolean;
      dead_pids: number[];
    }>(
      `WITH tagged AS (
         SELECT application_name, count(*)::int AS n FROM pg_stat_activity GROUP BY application_name
       ), dead AS (
         SELECT s.id, array_agg(s.pid ORDER BY s.n) AS pids
           FROM (SELECT d.id, d.host, u.pid, u.n FROM ${tables.leases} d, unnest(d.pids) WITH ORDINALITY AS u(pid, n)
                  WHERE ${staleLease("d")}) s
          WHERE NOT EXISTS (SELECT 1 FROM ${tables.leases} o
                             WHERE o.host = s.host AND o.id <> s.id AND NOT ${staleLease("o")} AND s.pid = ANY(o.pids))
          GROUP BY s.id
       )
       SELECT l.id, l.host, l.stale_after_ms, coalesce(t.n, 0) AS sessions,
              l.heartbeat_at > now() - (l.stale_after_ms + $1) * interval '1 millisecond' AS vetoable,
              coalesce(dead.pids, '{}') AS dead_pids
         FROM ${tables.leases} l LEFT JOIN tagged t ON t.application_name = l.session_tag
              LEFT JOIN dead ON dead.id = l.id
        WHERE ${staleLease("l")}
        ORDER BY l.heartbeat_at
          FOR UPDATE OF l`,
      [VETO_MS],
    );
    const dead: DeadLeasePid[] = [];
    const deadLeases: string[] = [];
    let olderThanMs = 0;
    for (const lease of staleLeases.rows) {
      if (lease.sessions > 0) {
        if (lease.vetoable) {
          result.alive.push(lease.id);
          continue;
        }
        result.overruled.push(lease.id);
      }
      deadLeases.push(lease.id);
      olderThanMs = Math.max(olderThanMs, lease.stale_after_ms);
      for (const pid of lease.dead_pids) dead.push({ lease: lease.id, host: lease.host, pid });
    }
    if (deadLeases.length > 0) {
      const counting = { countsTable: tables.rescues, maxRescues: config.maxRescues };
      const rescued = await queue.rescue(client, dead, olderThanMs, counting);
      result.released = rescued.ids;
      result.failed = rescued.failed ?? [];
      // A pid another live lease claims is that lease's now: its release, when
      // that tree ends, hands back what is held under the name.
      const holding = await queue.stillHolding(client, dead);
      result.leases = deadLeases.filter((id) => !holding.has(id));
      result.waiting = deadLeases.filter((id) => holding.has(id));
      await client.query(`DELETE FROM ${tables.leases} WHERE id = ANY($1::text[])`, [result.leases]);
      if (result.released.length) await queue.forgetCounts(client, tables.rescues);
    }
    const expired = await client.query<{ id: string }>(
      `DELETE FROM ${tables.leases}
        WHERE heartbeat_at < now() - greatest($1, 2 * coalesce(stale_after_ms, 0)) * interval '1 millisecond' RETURNING id`,
      [EXPIRE_MS],
    );
    result.expired = expired.rows.map((row) => row.id);
    await client.query("COMMIT");
    return result;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  }
}
