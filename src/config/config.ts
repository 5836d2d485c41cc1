import { UsageError, type OptionKey, type ParsedArgs, type RawValue } from "./options.js";
import type { LogLevel } from "../log.js";
import { sslModeOf } from "../db/tls.js";
import { escalationConfig, type EscalationConfig } from "./escalation.js";

/** Whether jobguard re-sends SIGTERM to the worker. */
export type ForwardMode = "auto" | "always" | "never";

/** Which queue's claims jobguard releases; each has an adapter in queues/. */
export const QUEUE_KINDS = ["delayed_job", "solid_queue", "good_job", "que", "sql"] as const;
export type QueueKind = (typeof QUEUE_KINDS)[number];

/** Where and how to release a dead worker's locks. */
export interface QueueConfig {
  kind: QueueKind;
  databaseUrl: string;
  /** delayed_job's table, or Solid Queue's table prefix, as [schema, name] or [name]. */
  table: string[];
  releaseSql?: string;
  /** Leases and rescue (not for sql). */
  rescue?: RescueConfig;
}

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

/** Everything a run needs, checked. */
export interface Config {
  deadlineMs: number;
  graceMs: number;
  forward: ForwardMode;
  /** The forward decision `auto` came to, and why. */
  forwardSigterm: boolean;
  forwardReason: string;
  logLevel: LogLevel;
  queue?: QueueConfig;
  /** The worker's last step before the kill, and the fail-safe SIGTERM. */
  escalation: EscalationConfig;
}

/**
 * Checks every raw value. Each failure is one sentence naming the variable or
 * flag it came from, so a Heroku user sees which config var to fix.
 */
export function buildConfig(args: ParsedArgs, env: NodeJS.ProcessEnv): Config {
  const raw = args.values;
  const graceMs = seconds(raw.grace, 30);
  const deadlineMs = raw.deadline ? seconds(raw.deadline, 0) : defaultDeadlineMs(graceMs);
  if (deadlineMs >= graceMs) {
    throw new UsageError(
      `the deadline (${deadlineMs / 1000} s) must be shorter than the grace period (${graceMs / 1000} s), to leave time for cleanup before the platform's SIGKILL`,
    );
  }
  // The worker's last step (config/escalation.ts); its preset may choose the forward mode.
  const escalation = escalationConfig(raw, deadlineMs, raw.escalateBefore && seconds(raw.escalateBefore, 0));
  const forward = oneOf(raw.forward, ["auto", "always", "never"] as const, escalation.forward ?? "auto");
  // Only the escalation and auto's fail-safe use the time; unused, it would silently do nothing.
  if (raw.escalateBefore && !escalation.signal && forward !== "auto") {
    throw new UsageError(
      `${raw.escalateBefore.source} is set but nothing is sent before the deadline (set JOBGUARD_ESCALATE, or JOBGUARD_FORWARD=auto for the fail-safe)`,
    );
  }
  const { forwardSigterm, forwardReason } = decideForward(forward, env.DYNO);
  return {
    deadlineMs,
    graceMs,
    forward,
    forwardSigterm,
    forwardReason,
    logLevel: oneOf(raw.logLevel, ["silent", "info", "debug"] as const, "info"),
    queue: queueConfig(raw, env),
    escalation,
  };
}

// Heroku's Cedar dyno manager signals every process in the dyno, so a forwarded
// SIGTERM would be the worker's second. Cedar names dynos `<type>.<n>`
// (`worker.1`, `run.9157`); Fir runs dynos as Kubernetes pods, named like
// `worker-12a34b56d-e78f9`, whose SIGTERM goes to the container's main process
// only, as anywhere else.
const CEDAR_DYNO = /^[A-Za-z0-9_-]+\.\d+$/;

function decideForward(mode: ForwardMode, dyno: string | undefined) {
  if (mode !== "auto") return { forwardSigterm: mode === "always", forwardReason: mode };
  if (dyno !== undefined && CEDAR_DYNO.test(dyno)) {
    return { forwardSigterm: false, forwardReason: "heroku-cedar-signals-every-process" };
  }
  return {
    forwardSigterm: true,
    forwardReason: dyno ? "heroku-fir-signals-main-process" : "platform-signals-jobguard-only",
  };
}

/**
 * The deadline where none is set: the grace minus the time jobguard's cleanup
 * needs (kill the tree, connect, release, exit half a second early), so that
 * setting the platform's grace alone is enough. A quarter of the grace, at most
 * 5 s (30 -> 25, 10 -> 7.5, 5 -> 3.75, 90 -> 85), and at least 1 s, since a
 * connection to a database in another region takes a few hundred milliseconds;
 * under a 2 s grace, half of it, so that the worker keeps some time of its own.
 */
function defaultDeadlineMs(graceMs: number): number {
  const cleanupMs = Math.min(5000, Math.max(1000, graceMs / 4), graceMs / 2);
  return Math.round(graceMs - cleanupMs);
}

function seconds(raw: RawValue | undefined, fallback: number): number {
  if (!raw) return fallback * 1000;
  // Plain decimals only: "1e3", "0x10" or "Infinity" are almost always mistakes.
  if (!/^\d+(\.\d+)?$/.test(raw.value) || Number(raw.value) <= 0) {
    throw new UsageError(
      `${raw.source} must be a positive number of seconds, got ${JSON.stringify(raw.value)}`,
    );
  }
  return Math.round(Number(raw.value) * 1000);
}

function oneOf<T extends string>(raw: RawValue | undefined, allowed: readonly T[], fallback: T): T {
  if (!raw) return fallback;
  if (!(allowed as readonly string[]).includes(raw.value)) {
    throw new UsageError(
      `${raw.source} must be one of ${allowed.join(", ")}, got ${JSON.stringify(raw.value)}`,
    );
  }
  return raw.value as T;
}

function queueConfig(
  raw: Partial<Record<OptionKey, RawValue>>,
  env: NodeJS.ProcessEnv,
): QueueConfig | undefined {
  const onlyWithQueue = (
    [
      "databaseUrl",
      "table",
      "tablePrefix",
      "releaseSql",
      "heartbeat",
      "staleAfter",
      "maxRescues",
      "leaseTable",
      "connection",
    ] as const
  ).find((key) => raw[key] && !raw.queue);
  if (!raw.queue) {
    // A database setting without a queue would silently do nothing.
    if (onlyWithQueue)
      throw new UsageError(`${raw[onlyWithQueue]!.source} is set but no queue is (set JOBGUARD_QUEUE)`);
    return undefined;
  }
  const kind = oneOf(raw.queue, QUEUE_KINDS, "delayed_job");
  const url: RawValue | undefined =
    raw.databaseUrl ?? (env.DATABASE_URL ? { value: env.DATABASE_URL, source: "DATABASE_URL" } : undefined);
  if (!url)
    throw new UsageError(
      `${raw.queue.source}=${kind} needs a database: set JOBGUARD_DATABASE_URL or DATABASE_URL`,
    );
  checkDatabaseUrl(url, env);
  if (kind === "sql" && !raw.releaseSql) {
    throw new UsageError(`${raw.queue.source}=sql needs the release statement in JOBGUARD_RELEASE_SQL`);
  }
  // Each setting that only one kind of queue reads, and which.
  const only: [keyof typeof raw, QueueKind[]][] = [
    ["releaseSql", ["sql"]],
    ["table", ["delayed_job", "que"]],
    ["tablePrefix", ["solid_queue"]],
    ...(["heartbeat", "staleAfter", "maxRescues", "leaseTable", "connection"] as const).map(
      (key): [keyof typeof raw, QueueKind[]] => [key, ["delayed_job", "solid_queue"]],
    ),
  ];
  for (const [key, kinds] of only) {
    if (raw[key] && !kinds.includes(kind)) {
      throw new UsageError(
        `${raw[key]!.source} is only used with ${kinds.map((k) => `JOBGUARD_QUEUE=${k}`).join(" or ")}`,
      );
    }
  }
  return {
    kind,
    databaseUrl: url.value,
    table:
      kind === "solid_queue"
        ? tableName(raw.tablePrefix, "solid_queue_", PREFIX)
        : tableName(raw.table, kind === "que" ? "que_lockers" : "delayed_jobs"),
    releaseSql: raw.releaseSql?.value,
    // Leases and sweeps serve queues whose claims outlive the worker's sessions.
    rescue: kind === "delayed_job" || kind === "solid_queue" ? rescueConfig(raw) : undefined,
  };
}

function rescueConfig(raw: Partial<Record<OptionKey, RawValue>>): RescueConfig {
  const heartbeatMs = seconds(raw.heartbeat, 10);
  const staleAfterMs = seconds(raw.staleAfter, 60);
  // One late heartbeat must not make a living dyno look dead.
  if (staleAfterMs < 2 * heartbeatMs) {
    throw new UsageError(
      `the stale-after time (${staleAfterMs / 1000} s) must be at least twice the heartbeat (${heartbeatMs / 1000} s), so that one late heartbeat does not make a living worker look dead`,
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
    maxRescues,
    leaseTable: tableName(raw.leaseTable, "jobguard_leases"),
    connection,
  };
}

/**
 * Checks a database URL as far as it can be without connecting, so that a URL
 * jobguard cannot use stops it before the worker starts, not at the first
 * heartbeat or at the release. Never echoes the URL: it carries the password.
 */
export function checkDatabaseUrl(raw: RawValue, env: NodeJS.ProcessEnv): void {
  let url: URL;
  try {
    url = new URL(raw.value);
  } catch {
    throw new UsageError(
      `${raw.source} is not a valid URL (expected postgres://user:password@host:port/database)`,
    );
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") {
    throw new UsageError(`${raw.source} must be a postgres:// or postgresql:// URL, not ${url.protocol}//`);
  }
  try {
    sslModeOf(raw.value, env);
  } catch (error) {
    throw new UsageError(`${raw.source}: ${(error as Error).message}`);
  }
  const parts: [string, string][] = [
    ["user name", url.username],
    ["password", url.password],
    ["host", url.hostname],
    ["database name", url.pathname.slice(1)],
  ];
  const malformed = parts.find(([, value]) => !percentDecodes(value));
  if (malformed) {
    throw new UsageError(
      `${raw.source} has a malformed %-escape in its ${malformed[0]}: write a % itself as %25, and any other byte as %XX of its UTF-8`,
    );
  }
}

// libpq refuses a % that does not begin two hex digits, and %00; node-postgres
// decodes these parts as UTF-8 and throws on bytes that are not.
function percentDecodes(part: string): boolean {
  if (/%(?![0-9a-f]{2})|%00/i.test(part)) return false;
  try {
    decodeURIComponent(part);
    return true;
  } catch {
    return false;
  }
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]*$/;
// A table prefix may be empty (Solid Queue's tables without a prefix) or end in "_".
const PREFIX = /^([A-Za-z_][A-Za-z0-9_$]*)?$/;

function tableName(raw: RawValue | undefined, fallback: string, last = IDENTIFIER): string[] {
  if (!raw) return [fallback];
  const parts = raw.value.split(".");
  if (
    parts.length > 2 ||
    !parts.slice(0, -1).every((part) => IDENTIFIER.test(part)) ||
    !last.test(parts[parts.length - 1]!)
  ) {
    const what = last === PREFIX ? "a table prefix or schema.prefix" : "a table name or schema.table";
    throw new UsageError(`${raw.source} must be ${what}, got ${JSON.stringify(raw.value)}`);
  }
  return parts;
}
