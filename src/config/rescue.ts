import { UsageError, type OptionKey, type RawValue } from "./options.js";
import { count, oneOf, seconds, tableName, type SecondsRange } from "./values.js";

/** Whether the lease holds its connection between heartbeats (see docs/database.md). */
export const CONNECTION_MODES = ["per-heartbeat", "keep"] as const;
export type ConnectionMode = (typeof CONNECTION_MODES)[number];

/** How dead dynos are detected and their jobs rescued. */
export interface RescueConfig {
  heartbeatMs: number;
  staleAfterMs: number;
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

/** Reads the lease settings of a queue with leases. */
export function rescueConfig(raw: Partial<Record<OptionKey, RawValue>>): RescueConfig {
  const heartbeatMs = seconds(raw.heartbeat, 10, HEARTBEAT_RANGE);
  const staleAfterMs = seconds(raw.staleAfter, 60);
  // One late heartbeat must not make a living dyno look dead.
  if (staleAfterMs < 2 * heartbeatMs) {
    throw new UsageError(
      `the stale-after time (${staleAfterMs / 1000} s) must be at least twice the heartbeat (${heartbeatMs / 1000} s), so that one late heartbeat does not make a living worker look dead`,
    );
  }
  const maxRescues = count(raw.maxRescues, 3);
  const connection = oneOf(raw.connection, CONNECTION_MODES, "per-heartbeat");
  return {
    heartbeatMs,
    staleAfterMs,
    maxRescues,
    leaseTable: tableName(raw.leaseTable, "jobguard_leases"),
    connection,
  };
}
