import { UsageError, type OptionKey, type RawValue } from "./options.js";
import type { ForwardMode } from "./forward.js";

/** The workers jobguard has presets for (docs/workers.md has the tests behind each). */
export const WORKERS = ["sidekiq", "graphile-worker", "rq", "celery"] as const;
export type WorkerName = (typeof WORKERS)[number];

/** What a preset fills in where the user set nothing. */
interface Preset {
  escalate?: NodeJS.Signals;
  forward?: ForwardMode;
  /** How long before the deadline the escalation (or the fail-safe) comes. */
  beforeMs?: number;
  /** jobguard's own signals must wait this long after the shutdown begins, and why. */
  quiet?: { ms: number; why: string };
}

// Each worker's own "last step", the one that hands its jobs back when asked
// harder, and whether a repeated SIGTERM is harmless to it. Where it is,
// `forward: "always"` means a wrong Cedar guess cannot leave the worker deaf.
const PRESETS: Record<WorkerName, Preset> = {
  // Sidekiq's last step is its own: at its -t timeout it pushes unfinished jobs
  // back to Redis. Once stopping it no longer reads signals, so a repeat is ignored.
  sidekiq: { forward: "always" },
  // A second signal makes graphile-worker fail its running jobs: locks cleared,
  // retried after a short backoff, rather than locked for 4 hours. It ignores
  // every termination signal for 5 s after the first, so a repeat that close is harmless.
  "graphile-worker": {
    forward: "always",
    escalate: "SIGINT",
    quiet: { ms: 6000, why: "ignores every signal for 5 s after the first" },
  },
  // RQ's cold shutdown (a second SIGINT or SIGTERM) kills the work horse but
  // leaves its job in the StartedJobRegistry, as a SIGKILL does: no use asking
  // for it. Its HerokuWorker hands a job back itself, 6 s after the SIGTERM
  // (the job fails, and is retried if it has retries): the fail-safe SIGTERM
  // comes 8 s before the deadline to leave it that room, and on a real Cedar
  // must come 8 s after the platform's, when HerokuWorker is done: a SIGTERM
  // during those 6 s would be a cold shutdown.
  rq: {
    beforeMs: 8000,
    quiet: {
      ms: 8000,
      why: "needs 6 s after SIGTERM to hand its job back, and takes another SIGTERM as a cold shutdown",
    },
  },
  // Celery's SIGQUIT is its cold shutdown: unacknowledged messages go back to
  // the broker now. A repeated SIGTERM is not harmless: landing during the warm
  // shutdown it can cut it short before Redis's unacked messages are restored.
  celery: { escalate: "SIGQUIT" },
};

/** Signals a worker may be asked with; SIGKILL is the deadline's own. */
export const ESCALATION_SIGNALS = [
  "SIGTERM",
  "SIGINT",
  "SIGQUIT",
  "SIGHUP",
  "SIGUSR1",
  "SIGUSR2",
  "SIGABRT",
] as const;

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
export function escalationConfig(
  raw: Partial<Record<OptionKey, RawValue>>,
  deadlineMs: number,
  beforeMs: number | undefined,
): EscalationConfig {
  let worker: WorkerName | undefined;
  if (raw.worker) {
    if (!(WORKERS as readonly string[]).includes(raw.worker.value)) {
      throw new UsageError(
        `${raw.worker.source} must be one of ${WORKERS.join(", ")}, got ${JSON.stringify(raw.worker.value)}`,
      );
    }
    worker = raw.worker.value as WorkerName;
  }
  const preset: Preset = worker ? PRESETS[worker] : {};
  let signal = preset.escalate;
  if (raw.escalate) {
    const value = raw.escalate.value;
    if (value !== "none" && !(ESCALATION_SIGNALS as readonly string[]).includes(value)) {
      throw new UsageError(
        `${raw.escalate.source} must be none or one of ${ESCALATION_SIGNALS.join(", ")}, got ${JSON.stringify(value)}`,
      );
    }
    signal = value === "none" ? undefined : (value as NodeJS.Signals);
  }
  // A short deadline keeps at least half of itself for the graceful shutdown.
  const before = beforeMs ?? preset.beforeMs ?? Math.min(DEFAULT_BEFORE_MS, deadlineMs / 2);
  if (before >= deadlineMs) {
    const source =
      beforeMs !== undefined
        ? raw.escalateBefore!.source
        : `${raw.worker!.source}=${worker}'s escalate-before`;
    throw new UsageError(
      `${source} (${before / 1000} s) must be shorter than the deadline, ${deadlineName(raw, deadlineMs)}: the escalation comes after the shutdown begins`,
    );
  }
  // Something is sent before the deadline: the escalation, or auto's fail-safe.
  const sends = signal !== undefined || (raw.forward?.value ?? preset.forward ?? "auto") === "auto";
  if (preset.quiet && sends && deadlineMs - before < preset.quiet.ms) {
    throw new UsageError(
      `${raw.worker!.source}=${worker} ${preset.quiet.why}: jobguard's own signals must come at least ${preset.quiet.ms / 1000} s after the shutdown begins, not ${(deadlineMs - before) / 1000} s; lengthen the deadline, ${deadlineName(raw, deadlineMs)}, or shorten JOBGUARD_ESCALATE_BEFORE`,
    );
  }
  return { worker, signal, beforeMs: before, forward: preset.forward };
}

/** The deadline as a sentence names it: its setting and value, or what it follows when unset. */
function deadlineName(raw: Partial<Record<OptionKey, RawValue>>, deadlineMs: number): string {
  return raw.deadline
    ? `${raw.deadline.source}=${raw.deadline.value}`
    : `JOBGUARD_DEADLINE (unset: ${deadlineMs / 1000} s, from JOBGUARD_GRACE)`;
}
