import { UsageError, type OptionKey, type RawValue } from "./options.js";
import type { ForwardMode } from "./config.js";

/** The workers jobguard has presets for (docs/workers.md has the tests behind each). */
export const WORKERS = ["sidekiq", "graphile-worker", "rq", "celery"] as const;
export type WorkerName = (typeof WORKERS)[number];

/** What a preset fills in where the user set nothing. */
interface Preset {
  escalate?: NodeJS.Signals;
  forward?: ForwardMode;
}

// Each worker's own "last step", the one that hands its jobs back when asked harder.
const PRESETS: Record<WorkerName, Preset> = {
  // Sidekiq's last step is its own: at its -t timeout it pushes unfinished jobs
  // back to Redis. It needs no second signal, and ignores one (once stopping, it
  // no longer reads signals), so jobguard may always forward SIGTERM: a wrong
  // Cedar guess then cannot leave Sidekiq deaf until the kill.
  sidekiq: { forward: "always" },
  // A second signal makes graphile-worker fail its running jobs: locks cleared,
  // retried after a short backoff, rather than locked for 4 hours.
  "graphile-worker": { escalate: "SIGINT" },
  // RQ's second SIGINT/SIGTERM is its cold shutdown: it kills the work horse and deregisters.
  rq: { escalate: "SIGINT" },
  // Celery's SIGQUIT is its cold shutdown: unacknowledged messages go back to the broker now.
  celery: { escalate: "SIGQUIT" },
};

/** Signals a worker may be asked with; SIGKILL is the deadline's own. */
const ESCALATION_SIGNALS = ["SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGABRT"] as const;

const DEFAULT_BEFORE_MS = 5000;

/** The step before the kill, checked. */
export interface EscalationConfig {
  worker?: WorkerName;
  /** Sent to the worker `beforeMs` before the deadline; undefined: none. */
  signal?: NodeJS.Signals;
  beforeMs: number;
  /** The forward mode the preset asks for, where JOBGUARD_FORWARD is unset. */
  forward?: ForwardMode;
}

/**
 * Reads JOBGUARD_WORKER, JOBGUARD_ESCALATE and JOBGUARD_ESCALATE_BEFORE
 * (`beforeMs`, already read as seconds by the caller). A preset fills only
 * what the user left unset.
 */
export function escalationConfig(raw: Partial<Record<OptionKey, RawValue>>, deadlineMs: number, beforeMs: number | undefined): EscalationConfig {
  let worker: WorkerName | undefined;
  if (raw.worker) {
    if (!(WORKERS as readonly string[]).includes(raw.worker.value)) {
      throw new UsageError(`${raw.worker.source} must be one of ${WORKERS.join(", ")}, got ${JSON.stringify(raw.worker.value)}`);
    }
    worker = raw.worker.value as WorkerName;
  }
  const preset: Preset = worker ? PRESETS[worker] : {};
  let signal = preset.escalate;
  if (raw.escalate) {
    const value = raw.escalate.value;
    if (value !== "none" && !(ESCALATION_SIGNALS as readonly string[]).includes(value)) {
      throw new UsageError(`${raw.escalate.source} must be none or one of ${ESCALATION_SIGNALS.join(", ")}, got ${JSON.stringify(value)}`);
    }
    signal = value === "none" ? undefined : (value as NodeJS.Signals);
  }
  if (beforeMs !== undefined && beforeMs >= deadlineMs) {
    throw new UsageError(
      `${raw.escalateBefore!.source} (${beforeMs / 1000} s) must be shorter than the deadline (${deadlineMs / 1000} s): the escalation comes after the shutdown begins`,
    );
  }
  // A short deadline keeps at least half of itself for the graceful shutdown.
  return { worker, signal, beforeMs: beforeMs ?? Math.min(DEFAULT_BEFORE_MS, deadlineMs / 2), forward: preset.forward };
}
