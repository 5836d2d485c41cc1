import { UsageError, type OptionKey, type RawValue } from "./options.js";
import { count, MAX_SECONDS, oneOf, seconds, tableName, type SecondsRange } from "./values.js";

/** Whether the lease holds its connection between heartbeats (see docs/database.md). */
export const CONNECTION_MODES = ["per-heartbeat", "keep"] as const;
export type ConnectionMode = (typeof CONNECTION_MODES)[number];

/** How dead dynos are detected and their jobs rescued. */
export interface RescueConfig {
  heartbeatMs: number;
  staleAfterMs: number;
  /**
   * How long jobguard lets its worker run without a confirmed renewal of its
   * lease (lease/fence.ts): stale-after less the grace and a second of margin,
   * so that the tree is gone before any sweeper may judge the lease stale.
   */
  fenceMs: number;
  /** The replication lag the fence allows a failover to lose (REPLICATION_LAG_MS). */
  replicationLagMs: number;
  maxRescues: number;
  /** jobguard's lease table as [schema, table] or [table]. */
  leaseTable: string[];
  connection: ConnectionMode;
}

/** The lease settings, read by every queue with leases and by no other. */
export const LEASE_SETTINGS: readonly OptionKey[] = [
  "heartbeat",
  "staleAfter",
  "maxRescues",
  "leaseTable",
  "connection",
];

// Each heartbeat is a commit: ten a second is already more than a lease needs.
const HEARTBEAT_RANGE: SecondsRange = {
  minMs: 100,
  why: "a shorter one commits to the database in a busy loop",
};

/** A second of margin between the fence's kill and the first sweep that may judge the lease (clock rates, the kill itself). */
const FENCE_MARGIN_MS = 1000;

/**
 * How far behind its primary an asynchronous standby may be when it is
 * promoted, as the fence assumes (lease/fence.ts): it counts from the newest
 * renewal confirmed at least this long before the latest was sent, so a
 * failover may lose every renewal of this last stretch. A healthy streaming
 * standby replays within a fraction of a second; 2 s covers one that has
 * fallen behind as in the CI run that lost several renewals of 0.5 s
 * heartbeats (about a second), with room, and failover managers can refuse
 * to promote a standby further behind (Patroni's maximum_lag_on_failover, in
 * bytes). It covers a primary with synchronous_commit = off as well, which
 * answers a commit before writing it and may lose up to three
 * wal_writer_delay (600 ms by default) of them in a crash, failover or not.
 * A failover that loses more loses the app's own commits too; set a
 * heartbeat longer than its lag for such a database. It costs nothing
 * at the default heartbeat (10 s), where the renewal before the latest is
 * already older, and so a lag of a heartbeat is allowed; with a heartbeat of
 * the lag or less it costs the lag: 2 s of stale-after, or 2 s less of
 * outage that the fleet rides out.
 */
export const REPLICATION_LAG_MS = 2000;

/**
 * The least stale-after for a grace and a heartbeat. A healthy jobguard
 * renews every heartbeat and its fence must never fire: the fence counts from
 * a renewal the database holds after any failover (lease/fence.ts), which is
 * at most two heartbeats before the next confirmation when the heartbeat is
 * longer than the lag (the renewal before the latest: the keeper sends the
 * next a heartbeat after the last one ended), and at most the lag and two
 * heartbeats before it when the heartbeat is the lag or less (the newest
 * renewal confirmed the lag before the latest was sent lies within a
 * heartbeat before that). On top: the grace, the fence's margin, and 2 s for
 * slow heartbeats.
 */
function leastStaleAfterMs(graceMs: number, heartbeatMs: number): number {
  const lagMs = heartbeatMs <= REPLICATION_LAG_MS ? REPLICATION_LAG_MS : 0;
  return graceMs + 2 * heartbeatMs + lagMs + 3 * FENCE_MARGIN_MS;
}

/**
 * Reads the lease settings of a queue with leases. The lease fences itself
 * (lease/fence.ts): a jobguard whose renewals have failed for stale-after less
 * the grace stops its worker, which the shutdown ends within the grace. So
 * stale-after must leave room for the grace, two heartbeats and, with a
 * heartbeat of 2 s or less, the replication lag (leastStaleAfterMs), and a
 * few seconds for a slow heartbeat; the default does.
 */
export function rescueConfig(raw: Partial<Record<OptionKey, RawValue>>, graceMs: number): RescueConfig {
  const heartbeatMs = seconds(raw.heartbeat, 10, HEARTBEAT_RANGE);
  const minimumMs = leastStaleAfterMs(graceMs, heartbeatMs);
  const staleAfterMs = seconds(raw.staleAfter, Math.max(60, minimumMs / 1000));
  if (staleAfterMs < minimumMs) {
    const lag =
      heartbeatMs <= REPLICATION_LAG_MS
        ? ` plus ${REPLICATION_LAG_MS / 1000} s for a heartbeat of ${REPLICATION_LAG_MS / 1000} s or less (the replication lag a failover may lose)`
        : "";
    throw new UsageError(
      `the stale-after time (${staleAfterMs / 1000} s, ${raw.staleAfter?.source ?? "the default"}) must be at least the grace period (${graceMs / 1000} s, JOBGUARD_GRACE) plus twice the heartbeat (${heartbeatMs / 1000} s, JOBGUARD_HEARTBEAT) plus 3 s${lag}: a worker whose lease cannot be renewed is stopped within the grace, before any sweep may judge the lease stale; set JOBGUARD_STALE_AFTER to ${minimumMs / 1000} or more`,
    );
  }
  // Only the default can get here: a stale-after that is set was checked by seconds().
  if (staleAfterMs > MAX_SECONDS * 1000) {
    throw new UsageError(
      `the stale-after time that the grace period (${graceMs / 1000} s, JOBGUARD_GRACE) and the heartbeat (${heartbeatMs / 1000} s, JOBGUARD_HEARTBEAT) call for (${staleAfterMs / 1000} s) is beyond ${MAX_SECONDS} s, the longest timer Node keeps; shorten one of them`,
    );
  }
  const maxRescues = count(raw.maxRescues, 3);
  const connection = oneOf(raw.connection, CONNECTION_MODES, "per-heartbeat");
  return {
    heartbeatMs,
    staleAfterMs,
    fenceMs: staleAfterMs - graceMs - FENCE_MARGIN_MS,
    replicationLagMs: REPLICATION_LAG_MS,
    maxRescues,
    leaseTable: tableName(raw.leaseTable, "jobguard_leases"),
    connection,
  };
}
