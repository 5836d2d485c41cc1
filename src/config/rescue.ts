import { UsageError, type OptionKey, type RawValue } from "./options.js";
import { oneOf, seconds, tableName } from "./values.js";

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

/** A second of margin between the fence's kill and the first sweep that may judge the lease (clock rates, the kill itself). */
const FENCE_MARGIN_MS = 1000;

/**
 * Reads the lease settings of a queue with leases. The lease fences itself
 * (lease/fence.ts): a jobguard whose renewals have failed for stale-after less
 * the grace stops its worker, which the shutdown ends within the grace. So
 * stale-after must leave room for the grace and two heartbeats (the fence
 * counts from the renewal before the latest, in case a failover loses the
 * latest) and a few seconds for a slow one; the default does.
 */
export function rescueConfig(raw: Partial<Record<OptionKey, RawValue>>, graceMs: number): RescueConfig {
  const heartbeatMs = seconds(raw.heartbeat, 10);
  const minimumMs = graceMs + 2 * heartbeatMs + 3 * FENCE_MARGIN_MS;
  const staleAfterMs = seconds(raw.staleAfter, Math.max(60, minimumMs / 1000));
  if (staleAfterMs < minimumMs) {
    throw new UsageError(
      `the stale-after time (${staleAfterMs / 1000} s, ${raw.staleAfter?.source ?? "the default"}) must be at least the grace period (${graceMs / 1000} s, JOBGUARD_GRACE) plus twice the heartbeat (${heartbeatMs / 1000} s, JOBGUARD_HEARTBEAT) plus 3 s: a worker whose lease cannot be renewed is stopped within the grace, before any sweep may judge the lease stale; set JOBGUARD_STALE_AFTER to ${minimumMs / 1000} or more`,
    );
  }
  const maxRescues = raw.maxRescues ? Number(raw.maxRescues.value) : 3;
  if (raw.maxRescues && !/^\d+$/.test(raw.maxRescues.value)) {
    throw new UsageError(
      `${raw.maxRescues.source} must be a whole number, got ${JSON.stringify(raw.maxRescues.value)}`,
    );
  }
  const connection = oneOf(raw.connection, CONNECTION_MODES, "per-heartbeat");
  return {
    heartbeatMs,
    staleAfterMs,
    fenceMs: staleAfterMs - graceMs - FENCE_MARGIN_MS,
    maxRescues,
    leaseTable: tableName(raw.leaseTable, "jobguard_leases"),
    connection,
  };
}
