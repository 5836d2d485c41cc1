import type { ChildProcess } from "node:child_process";
import type { Logger } from "../log.js";
import { signal as sendSignal, stillOurs } from "../process-tree/signal.js";

/** Signals that ask the worker to shut down; the first one starts the deadline. */
const SHUTDOWN_SIGNALS = ["SIGTERM", "SIGINT"] as const;

/** Signals that are commands to the worker (reload, dump, stop taking jobs), relayed each time. */
const RELAYED_SIGNALS = ["SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH"] as const;

/** What the relay needs from the supervisor. */
export interface RelayOptions {
  forwardSigterm: boolean;
  log: Logger;
  /**
   * Called once, on the first SIGTERM or SIGINT, or when jobguard stops the
   * worker itself, saying whether a signal was passed on to the worker.
   */
  onShutdown(signal: NodeJS.Signals, forwarded: boolean): void;
}

/** The relay's one action of its own. */
export interface Relay {
  /**
   * jobguard must stop the worker although no platform signal came (an
   * internal error): SIGTERM, as at a shutdown, unless a shutdown has begun
   * and the worker has had its request already.
   */
  stopWorker(reason: string): void;
}

/**
 * Installs handlers for every signal jobguard relays. They stay until jobguard
 * exits: a SIGTERM during the lock release must not kill jobguard by default
 * action. A worker must receive a shutdown request exactly once: a second
 * SIGTERM turns a graceful shutdown into a forced one in graphile-worker, RQ and
 * Resque. So only the first SIGTERM or SIGINT is forwarded (SIGTERM only where
 * the platform did not already signal the worker itself), and repeats, which
 * Heroku does send, are not.
 */
export function relaySignals(child: () => ChildProcess | undefined, options: RelayOptions): Relay {
  let shuttingDown = false;
  const send = (signal: NodeJS.Signals) => sendTo(child(), signal, options.log);
  for (const signal of SHUTDOWN_SIGNALS) {
    process.on(signal, () => {
      const first = !shuttingDown;
      shuttingDown = true;
      const forward = first && (signal === "SIGINT" || options.forwardSigterm);
      const forwarded = forward && send(signal);
      options.log.info("signal", { signal, forwarded, repeat: first ? undefined : true });
      if (first) options.onShutdown(signal, forwarded);
    });
  }
  for (const signal of RELAYED_SIGNALS) {
    process.on(signal, () => {
      const forwarded = send(signal);
      // SIGWINCH comes with every terminal resize: not worth a line at info.
      (signal === "SIGWINCH" ? options.log.debug : options.log.info)("signal", { signal, forwarded });
    });
  }
  return {
    stopWorker(reason) {
      if (shuttingDown) return;
      shuttingDown = true;
      // No platform signal came, so the worker has heard none: this SIGTERM is its only one.
      const forwarded = send("SIGTERM");
      options.log.info("stop", { reason, signal: "SIGTERM", forwarded });
      options.onShutdown("SIGTERM", forwarded);
    },
  };
}

/** Signals the worker if it is still ours; true when sent. A refusal (not a worker gone meanwhile) is logged. */
function sendTo(child: ChildProcess | undefined, signal: NodeJS.Signals, log: Logger): boolean {
  if (!child || !stillOurs(child)) return false;
  const outcome = sendSignal(child.pid, signal);
  if ("refused" in outcome)
    log.error("signal_failed", `could not send ${signal} to the worker`, {
      pid: child.pid,
      code: outcome.refused,
    });
  return "sent" in outcome;
}
