import type { ChildProcess } from "node:child_process";
import type { Logger } from "../log.js";
import { signal as sendSignal, stillOurs } from "../process-tree/signal.js";
import type { Shutdown } from "./shutdown.js";

/** Signals that ask the worker to shut down; the first one starts the deadline. */
const SHUTDOWN_SIGNALS = ["SIGTERM", "SIGINT"] as const;

/** Signals that are commands to the worker (reload, dump, stop taking jobs), relayed each time. */
const RELAYED_SIGNALS = ["SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH"] as const;

/**
 * The other signals whose default action would end jobguard, leaving the worker
 * to the watchdog and its locks unreleased. None means anything to jobguard or
 * to a worker, and passed on, each would end a worker that has no handler for
 * it: the timers' (jobguard sets none), the resource limits' (SIGXCPU and
 * SIGXFSZ are about jobguard's own use), a power failure's, asynchronous I/O's,
 * a bad system call's, a debugger's, an abort's. Each is logged and ignored.
 * SIGPIPE Node ignores already (a write then fails with EPIPE). Left out:
 * SIGSEGV, SIGBUS, SIGFPE and SIGILL, which mean Node itself crashed (a handler
 * returning there would fault again), and the real-time signals, for which Node
 * has no handler: the watchdog stops the worker after those.
 */
const IGNORED_SIGNALS = [
  "SIGALRM",
  "SIGVTALRM",
  "SIGPROF",
  "SIGXCPU",
  "SIGXFSZ",
  "SIGPWR",
  "SIGIO",
  "SIGSTKFLT",
  "SIGSYS",
  "SIGTRAP",
  "SIGABRT",
] as const;

/** What the relay needs from the supervisor. */
export interface RelayOptions {
  forwardSigterm: boolean;
  log: Logger;
}

/** The relay as the supervisor sees it. */
export interface Relay {
  /** The worker has been spawned: from now on signals go to it. */
  attach(child: ChildProcess): void;
  /**
   * jobguard must stop the worker although no platform signal came (an
   * internal error, or the release port's own reason): SIGTERM, as at a
   * shutdown, unless a request to stop has reached the worker already.
   */
  stopWorker(reason: string): void;
}

/**
 * Installs handlers for every signal jobguard relays or ignores. They stay
 * until jobguard exits: a SIGTERM during the lock release must not kill
 * jobguard by default action. A worker must receive a shutdown request exactly
 * once (rule 2): a second SIGTERM turns a graceful shutdown into a forced one
 * in graphile-worker, RQ and Resque. So only the first SIGTERM or SIGINT is
 * forwarded (SIGTERM only where the platform did not already signal the worker
 * itself), and repeats, which Heroku does send, are not. Whether a request
 * came is `shutdown`'s to know; the relay only decides what the worker hears
 * and tells it.
 */
export function relaySignals(shutdown: Shutdown, options: RelayOptions): Relay {
  const { log } = options;
  let worker: ChildProcess | undefined;
  const send = (signal: NodeJS.Signals) => worker !== undefined && sendTo(worker, signal, log);
  for (const signal of SHUTDOWN_SIGNALS) {
    process.on(signal, () => {
      const first = !shutdown.requested;
      const forwarded = first && (signal === "SIGINT" || options.forwardSigterm) && send(signal);
      log.info("signal", { signal, forwarded, repeat: first ? undefined : true });
      shutdown.request(signal, forwarded);
    });
  }
  for (const signal of RELAYED_SIGNALS) {
    process.on(signal, () => {
      const forwarded = send(signal);
      // SIGWINCH comes with every terminal resize: not worth a line at info.
      if (signal === "SIGWINCH") log.debug("signal", { signal, forwarded });
      else log.info("signal", { signal, forwarded });
    });
  }
  for (const signal of IGNORED_SIGNALS) {
    process.on(signal, () => log.info("signal", { signal, forwarded: false, ignored: true }));
  }
  return {
    attach(child) {
      worker = child;
    },
    stopWorker(reason) {
      if (shutdown.requested) return;
      // No platform signal came, so the worker has heard none: this SIGTERM is its only one.
      const forwarded = send("SIGTERM");
      log.info("stop", { reason, signal: "SIGTERM", forwarded });
      shutdown.request(reason, forwarded);
    },
  };
}

/** Signals the worker if it is still ours; true when sent. A refusal (not a worker gone meanwhile) is logged. */
function sendTo(child: ChildProcess, signal: NodeJS.Signals, log: Logger): boolean {
  if (!stillOurs(child)) return false;
  const outcome = sendSignal(child.pid, signal);
  if ("refused" in outcome)
    log.error("signal_failed", `could not send ${signal} to the worker`, {
      pid: child.pid,
      code: outcome.refused,
    });
  return "sent" in outcome;
}
