import type { ChildProcess } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "../log.js";
import { signal as sendSignal, stillOurs } from "../process-tree/signal.js";
import type { Escalation, ForwardMode } from "./options.js";
import type { Shutdown } from "./shutdown.js";

/** What the escalation needs from the supervisor. */
export interface EscalationOptions {
  escalation: Escalation;
  forward: ForwardMode;
  log: Logger;
}

// A worker reads its signals from its own event loop; a moment between two
// signals lets it act on the first (start a warm shutdown) before the second
// (make it a cold one), whatever order the kernel delivers pending signals in.
const BETWEEN_SIGNALS_MS = 200;

/**
 * The step before the deadline kill, `beforeMs` ahead of it, once the
 * shutdown has begun:
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
 * jobguard's own, one of each at most, each logged as `event=escalate`. The
 * step is called off once jobguard is done with the tree.
 */
export function scheduleEscalation(
  child: ChildProcess,
  shutdown: Shutdown,
  options: EscalationOptions,
): void {
  const { escalation, log } = options;
  let timer: NodeJS.Timeout | undefined;
  const step = async (failsafe: boolean) => {
    if (failsafe) {
      send(child, "SIGTERM", "failsafe-nothing-forwarded", log);
      if (escalation.signal) await sleep(BETWEEN_SIGNALS_MS);
    }
    if (escalation.signal && shutdown.state.phase !== "done") {
      const reason = escalation.worker ? `${escalation.worker}-last-step` : "escalate";
      send(child, escalation.signal, reason, log);
    }
  };
  shutdown.subscribe({
    begun({ forwarded }) {
      const failsafe = options.forward === "auto" && !forwarded;
      if (!failsafe && !escalation.signal) return;
      timer = setTimeout(() => void step(failsafe), shutdown.timing.deadlineMs - escalation.beforeMs);
    },
    done() {
      clearTimeout(timer);
    },
  });
}

function send(child: ChildProcess, signal: NodeJS.Signals, reason: string, log: Logger): void {
  // A worker that has exited is not signalled: its pid may be another process's by now.
  if (!stillOurs(child)) return;
  const outcome = sendSignal(child.pid, signal);
  // A worker gone meanwhile is no news; a refusal (EPERM) must show.
  log.info("escalate", {
    signal,
    reason,
    sent: "sent" in outcome,
    code: "refused" in outcome ? outcome.refused : undefined,
  });
}
