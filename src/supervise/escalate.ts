import type { ChildProcess } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "../log.js";
import { signal as sendSignal, stillOurs } from "../process-tree/signal.js";
import type { Escalation, ForwardMode } from "./options.js";

/** What the escalation needs from the supervisor. */
export interface EscalationOptions {
  config: Escalation;
  forward: ForwardMode;
  deadlineMs: number;
  log: Logger;
}

// A worker reads its signals from its own event loop; a moment between two
// signals lets it act on the first (start a warm shutdown) before the second
// (make it a cold one), whatever order the kernel delivers pending signals in.
const BETWEEN_SIGNALS_MS = 200;

/**
 * The step before the deadline kill, `beforeMs` ahead of it:
 *
 * - fail-safe: when `auto` decided the platform had signalled the worker itself
 *   (a Cedar-looking `$DYNO`) and so forwarded nothing, the worker gets a
 *   SIGTERM. If `auto` guessed wrong, that is the only shutdown request the
 *   worker hears; if it guessed right, it is the worker's second, which in most
 *   workers makes the graceful shutdown a forced one, `beforeMs` before
 *   jobguard's SIGKILL would have ended it anyway.
 * - escalation: the configured signal asks the worker for its own last step
 *   (a forced shutdown that hands jobs back), while it still has time for it.
 *
 * Repeated platform signals stay unforwarded (relay-signals.ts): these are
 * jobguard's own, one of each at most, each logged as `event=escalate`.
 * Returns a function that cancels the step if the tree ends first.
 */
export function scheduleEscalation(
  child: () => ChildProcess | undefined,
  forwarded: boolean,
  options: EscalationOptions,
): () => void {
  const { config, log } = options;
  const failsafe = options.forward === "auto" && !forwarded;
  if (!failsafe && !config.signal) return () => {};
  let cancelled = false;
  const timer = setTimeout(async () => {
    if (failsafe) {
      send(child(), "SIGTERM", "failsafe-nothing-forwarded", log);
      if (config.signal) await sleep(BETWEEN_SIGNALS_MS);
    }
    if (config.signal && !cancelled)
      send(child(), config.signal, config.worker ? `${config.worker}-last-step` : "escalate", log);
  }, options.deadlineMs - config.beforeMs);
  return () => {
    cancelled = true;
    clearTimeout(timer);
  };
}

function send(child: ChildProcess | undefined, signal: NodeJS.Signals, reason: string, log: Logger): void {
  // A worker that has exited is not signalled: its pid may be another process's by now.
  if (!child || !stillOurs(child)) return;
  const outcome = sendSignal(child.pid, signal);
  // A worker gone meanwhile is no news; a refusal (EPERM) must show.
  log.info("escalate", {
    signal,
    reason,
    sent: "sent" in outcome,
    code: "refused" in outcome ? outcome.refused : undefined,
  });
}
