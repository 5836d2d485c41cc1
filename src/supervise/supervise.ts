import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "../log.js";
import {
  killTree,
  killTreeNow,
  terminateTree,
  union,
  type KillResult,
  type Refusal,
} from "../process-tree/kill-tree.js";
import { listProcesses } from "../process-tree/proc.js";
import { TreeHistory } from "../process-tree/tree-history.js";
import { findTree, markerEnvValue, newMarker, TREE_ENV } from "../process-tree/tree.js";
import type { SuperviseOptions } from "./options.js";
import type { ReleasePort } from "./release-port.js";
import { scheduleEscalation } from "./escalate.js";
import { endedWithoutCrash, EXIT, statusCode, type ExitStatus } from "./exit.js";
import type { InternalErrors } from "./internal-error.js";
import { relaySignals } from "./relay-signals.js";
import { ShutdownClock } from "./shutdown-clock.js";
import { SpawnError, startWorker, type Worker } from "./start-worker.js";
import { startWatchdog, type Watchdog } from "./watchdog.js";

// How often the tree is recorded while a queue is configured, and how often
// leftovers are looked for once the worker itself has exited.
const RECORD_EVERY_MS = 2000;
const LEFTOVER_POLL_MS = 50;
// How long after the worker's death a SIGTERM to jobguard still means both came from one shutdown.
const SHUTDOWN_SIGNAL_SPREAD_MS = 1000;

/**
 * Runs the worker to the end: relay signals, enforce the deadline, make sure
 * the whole tree is gone, release its locks. Resolves with jobguard's exit
 * status. From the spawn on, an internal error (`errors`) is a shutdown: the
 * worker is asked to stop, killed at the deadline, its locks released where
 * that still works, and jobguard exits 125 before the grace period ends,
 * whatever else breaks meanwhile.
 */
export async function supervise(
  command: string[],
  config: SuperviseOptions,
  log: Logger,
  errors: InternalErrors,
  cleanup?: ReleasePort,
): Promise<number> {
  const marker = newMarker();
  const env = {
    ...process.env,
    ...cleanup?.childEnv,
    [TREE_ENV]: markerEnvValue(process.env[TREE_ENV], marker),
  };
  let onDeadline!: () => void;
  const killed = new Promise<KillResult>((resolve) => (onDeadline = () => resolve(killAtDeadline())));
  const clock = new ShutdownClock(config.deadlineMs, config.graceMs, () => onDeadline());
  // Handlers first: a signal that lands while the worker is being spawned
  // would otherwise kill jobguard by default action and orphan the worker.
  // Handlers run from the event loop, so by then the worker exists.
  let worker: Worker | undefined;
  let watchdog: Watchdog | undefined;
  let asked = false; // to shut down, by a SIGTERM or SIGINT, or by jobguard itself
  let cancelEscalation = () => {};
  const relay = relaySignals(() => worker?.child, {
    forwardSigterm: config.forwardSigterm,
    log,
    onShutdown: (_signal, forwarded) => {
      asked = true;
      watchdog?.shutdownBegan();
      if (!clock.start()) return;
      cleanup?.prepare();
      // The worker's last step before the kill, and the fail-safe SIGTERM: escalate.ts.
      cancelEscalation = scheduleEscalation(() => worker?.child, forwarded, {
        config: config.escalation,
        forward: config.forward,
        deadlineMs: config.deadlineMs,
        log,
      });
    },
  });
  const history = new TreeHistory();
  let failed = false;
  let treeGone = false;
  worker = startWorker(command, env, marker);
  // From here on the worker exists: every error, this function's own included, is a shutdown.
  errors.handleWith(fail);
  const { child, tree } = worker;

  try {
    if (tree) watchdog = startWatchdog(tree, config.deadlineMs, log);
    void worker.exited.then(() => watchdog?.rootExited());
    try {
      await worker.started;
    } catch (error) {
      if (!(error instanceof SpawnError)) throw error;
      watchdog?.stop();
      process.stderr.write(`jobguard: ${error.message}\n`);
      return error.exitCode;
    }
    // /proc was checked before anything started: a root it cannot show is a bug, and handled as one.
    if (!tree) throw new Error(`the worker (pid ${child.pid}) is not in /proc`);
    let ended: { status: ExitStatus | undefined; kill: KillResult | undefined };
    let recorder: NodeJS.Timeout | undefined;
    try {
      log.info("started", {
        pid: process.pid,
        child: tree.rootPid,
        deadline: config.deadlineMs / 1000,
        grace: config.graceMs / 1000,
        forward: config.forward,
        forward_sigterm: config.forwardSigterm,
        reason: config.forwardReason,
        worker: config.escalation.worker,
        escalate: config.escalation.signal,
        queue: config.queue,
      });
      // The pid history serves only the release: without a queue, /proc is not read until a shutdown.
      recorder = cleanup && setInterval(() => history.record(findTree(tree)), RECORD_EVERY_MS).unref();
      if (cleanup) {
        history.record(findTree(tree));
        cleanup.start(history);
      }
      // Either the worker exits (perhaps killed at the deadline) and its leftovers
      // go, or the kill gives up on survivors stuck in the kernel: jobguard must
      // not wait for a child that will never be reaped.
      ended = await Promise.race([
        worker.exited.then(async (status) => ({ status, kill: await leftoversGone() })),
        killed.then((kill) => ({ status: undefined, kill })),
      ]);
    } catch (error) {
      // The main path broke while the tree may still run: fail() has asked
      // the worker to stop, and the deadline's kill, armed then, ends the tree.
      errors.handle(error);
      ended = { status: undefined, kill: await killed };
    }
    clearInterval(recorder);
    clock.cancel();
    cancelEscalation();
    const survivors = ended.kill?.survivors ?? [];
    if (survivors.length > 0) {
      log.error("tree_survived", "processes of the worker tree survived SIGKILL; no lock was released", {
        pids: survivors.map((p) => p.pid).join(","),
      });
      return finish(EXIT.JOBGUARD_FAILED);
    }
    // No survivors: the child is dead, and its exit is only waiting to be reaped.
    const status = ended.status ?? (await worker.exited);
    treeGone = true;
    watchdog?.stop();
    log.info("tree_gone", { shutdown_ms: clock.elapsed() });

    const killedSome = (ended.kill?.killed.length ?? 0) > 0;
    if (cleanup && (killedSome || status.code !== 0)) {
      const released = await cleanup.release(history.dead(), clock.exitBy, () => crashedOnItsOwn(status));
      if (!released) return finish(EXIT.JOBGUARD_FAILED);
    }
    await cleanup?.finish(clock.exitBy - Date.now());
    return finish(failed ? EXIT.JOBGUARD_FAILED : killedSome ? EXIT.KILLED_AT_DEADLINE : statusCode(status));
  } catch (error) {
    // Broken a second time, or after the tree was gone (in the release):
    // with the tree gone there is nothing left to wait for; otherwise the
    // last resort, armed by fail(), kills it and exits before the grace.
    errors.handle(error);
    if (!treeGone) await new Promise<never>(() => {});
    return finish(EXIT.JOBGUARD_FAILED);
  }

  function finish(code: number): number {
    watchdog?.stop();
    log.info("exit", { code, shutdown_ms: clock.elapsed() });
    return code;
  }

  /**
   * An internal error: stop the worker as at a SIGTERM (the relay sends none
   * if a shutdown request has reached it already), and make sure jobguard
   * exits before the platform's SIGKILL even if the main path never comes back.
   */
  function fail(): void {
    if (failed) return;
    failed = true;
    relay.stopWorker("internal_error");
    setTimeout(lastResort, Math.max(0, clock.exitBy - Date.now()));
  }

  function lastResort(): never {
    if (!treeGone) killTreeNow(child, tree);
    finish(EXIT.JOBGUARD_FAILED);
    process.exit(EXIT.JOBGUARD_FAILED);
  }

  async function killAtDeadline(): Promise<KillResult> {
    const result = await killTree(tree!, clock.exitBy, (members) => history.record(members));
    log.info("deadline_exceeded", { deadline: config.deadlineMs / 1000, killed: result.killed.join(",") });
    logRefusals("SIGKILL", result.refused);
    return result;
  }

  // The worker may exit while children it started live on: those are the
  // tree's too, and jobguard does not exit before they are gone.
  async function leftoversGone(): Promise<KillResult | undefined> {
    for (;;) {
      if (clock.expired) return killed;
      const processes = listProcesses();
      const leftovers = union(findTree(tree!, processes), history.running(processes));
      if (leftovers.length === 0) return undefined;
      history.record(leftovers);
      if (clock.start()) {
        cleanup?.prepare();
        const { signalled, refused } = terminateTree(tree!);
        log.info("leftovers", { signal: "SIGTERM", pids: signalled.join(",") });
        logRefusals("SIGTERM", refused);
      }
      await sleep(LEFTOVER_POLL_MS);
    }
  }

  /** A process jobguard may not signal lives on: say so, it will count as a survivor. */
  function logRefusals(signal: NodeJS.Signals, refused: Refusal[]): void {
    if (refused.length === 0) return;
    log.error("signal_failed", `could not send ${signal} to processes of the worker tree`, {
      pids: refused.map((r) => `${r.pid}:${r.code}`).join(","),
    });
  }

  /**
   * Whether the worker crashed (the OOM killer, a segfault, an uncaught error)
   * rather than being asked to stop. A worker ended by SIGTERM or SIGINT was
   * asked; and on Heroku Cedar, which signals every process of the dyno, the
   * worker may hear the SIGTERM and exit a moment before jobguard does: a
   * shutdown that begins right after still counts.
   */
  async function crashedOnItsOwn(status: ExitStatus): Promise<boolean> {
    if (asked || endedWithoutCrash(status)) return false;
    // Waiting must not eat the release's time where leftovers started the clock.
    await sleep(Math.min(SHUTDOWN_SIGNAL_SPREAD_MS, (clock.exitBy - Date.now()) / 4));
    return !asked;
  }
}
