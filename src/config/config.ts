import type { LogLevel } from "../log.js";
import { escalationConfig, type EscalationConfig } from "./escalation.js";
import { forwardConfig, type ForwardMode } from "./forward.js";
import { UsageError, type ParsedArgs } from "./options.js";
import { QUEUES } from "../queues/descriptors.js";
import { queueConfig, type QueueConfig } from "./queue.js";
import { timing } from "./timing.js";
import { oneOf, seconds } from "./values.js";

// The types of Config's parts, from the files that read them, for the code that uses a Config.
export type { ForwardMode } from "./forward.js";
export type { QueueConfig } from "./queue.js";
export type { ConnectionMode, RescueConfig } from "./rescue.js";

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
  const { deadlineMs, graceMs } = timing(raw);
  // The worker's last step (config/escalation.ts); its preset may choose the forward mode.
  const escalation = escalationConfig(raw, deadlineMs, raw.escalateBefore && seconds(raw.escalateBefore, 0));
  const forward = forwardConfig(raw.forward, escalation.forward, env.DYNO);
  // Only the escalation and auto's fail-safe use the time; unused, it would silently do nothing.
  if (raw.escalateBefore && !escalation.signal && forward.forward !== "auto") {
    throw new UsageError(
      `${raw.escalateBefore.source} is set but nothing is sent before the deadline (set JOBGUARD_ESCALATE, or JOBGUARD_FORWARD=auto for the fail-safe)`,
    );
  }
  const config: Config = {
    deadlineMs,
    graceMs,
    ...forward,
    logLevel: oneOf(raw.logLevel, ["silent", "info", "debug"] as const, "info"),
    queue: queueConfig(raw, env, graceMs),
    escalation,
  };
  // A rescue sweeps leases: without a queue that keeps them it could only do nothing.
  if (args.action === "rescue" && !config.queue?.rescue) {
    const leased = QUEUES.filter((q) => q.leases).map((q) => q.kind);
    const set = raw.queue ? `${raw.queue.source}=${raw.queue.value} keeps no leases` : "no queue is set";
    throw new UsageError(
      `jobguard rescue needs a queue with leases, and ${set} (set JOBGUARD_QUEUE to ${leased.join(" or ")})`,
    );
  }
  return config;
}
