import type { Logger } from "../log.js";
import { killTreeNow } from "../process-tree/kill-tree.js";
import { TreeHistory } from "../process-tree/tree-history.js";
import { findTree, markerEnvValue, newMarker, TREE_ENV, type TreeIdentity } from "../process-tree/tree.js";
import { awaitTree, killAtDeadline, type TreeEnd, type TreeWatch } from "./await-tree.js";
import { scheduleEscalation } from "./escalate.js";
import { EXIT, statusCode, type ExitStatus } from "./exit.js";
import type { InternalErrors } from "./internal-errors.js";
import type { SuperviseOptions } from "./options.js";
import type { ReleasePort } from "./release-port.js";
import { relaySignals } from "./relay-signals.js";
import { Shutdown } from "./shutdown.js";
import { SpawnError, startWorker } from "./start-worker.js";
import { startWatchdog } from "./watchdog.js";

// How often the tree is recorded while a queue is configured.
const RECORD_EVERY_MS = 2000;

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
  options: SuperviseOptions,
  log: Logger,
  errors: InternalErrors,
  release?: ReleasePort,
): Promise<number> {
  const shutdown = new Shutdown(options);
  const marker = newMarker();
  const env = {
    ...process.env,
    ...release?.childEnv,
    [TREE_ENV]: markerEnvValue(process.env[TREE_ENV], marker),
  };

  /* Spawn, the signal handlers first */
  // A signal that lands while the worker is being spawned would otherwise kill
  // jobguard by default action and orphan the worker. Handlers run from the
  // event loop, so by then the worker exists.
  const relay = relaySignals(shutdown, { forwardSigterm: options.forwardSigterm, log });
  const worker = startWorker(command, env, marker);
  relay.attach(worker.child);
  // From here on the worker exists: every error, this function's own included,
  // is a shutdown. The relay stops the worker (rule 2: unless a request to stop
  // has reached it already); the shutdown arms the last resort, which kills
  // what is left and exits 125 at exit-by if the main path never gets there.
  errors.handleWith(() => {
    relay.stopWorker("internal_error");
    shutdown.fail();
  });
  const finish = (code: number): number => {
    shutdown.done();
    log.info("exit", { code, shutdown_ms: shutdown.elapsed() });
    return code;
  };
  shutdown.subscribe({
    lastResort() {
      if (shutdown.state.phase !== "done") killTreeNow(worker.child, worker.tree);
      finish(EXIT.JOBGUARD_FAILED);
    },
  });
  // The worker's last step before the kill, and the fail-safe SIGTERM: escalate.ts.
  scheduleEscalation(worker.child, shutdown, {
    escalation: options.escalation,
    forward: options.forward,
    log,
  });
  if (release) shutdown.subscribe({ begun: () => release.prepare() });

  try {
    if (worker.tree) startWatchdog(worker.tree, worker.exited, shutdown, log);
    try {
      await worker.started;
    } catch (error) {
      if (!(error instanceof SpawnError)) throw error;
      shutdown.done();
      process.stderr.write(`jobguard: ${error.message}\n`);
      return error.exitCode;
    }
    // /proc was checked before anything started: a root it cannot show is a bug, and handled as one.
    const tree = worker.tree;
    if (!tree) throw new Error(`the worker (pid ${worker.child.pid}) is not in /proc`);
    const watch: TreeWatch = { tree, history: new TreeHistory(), shutdown, log };
    const killed = killAtDeadline(watch);

    /* Wait for the worker's exit and its leftovers, or the deadline's kill */
    let end: TreeEnd;
    try {
      logStarted(log, options, tree);
      if (release) {
        // The pid history serves only the release: without a queue, /proc is not read until a shutdown.
        recordHistory(watch);
        release.start(watch.history, (reason) => relay.stopWorker(reason));
      }
      end = await awaitTree(worker.exited, killed, watch);
    } catch (error) {
      // The main path broke while the tree may still run: the relay has asked
      // the worker to stop, and the deadline's kill, armed then, ends the tree.
      errors.handle(error);
      end = { kill: await killed };
    }
    shutdown.done();

    /* Confirm the tree gone */
    const survivors = end.kill?.survivors ?? [];
    if (survivors.length > 0) {
      log.error("tree_survived", "processes of the worker tree survived SIGKILL; no lock was released", {
        pids: survivors.map((p) => p.pid).join(","),
      });
      return finish(EXIT.JOBGUARD_FAILED);
    }
    // No survivors: the child is dead, and its exit is only waiting to be reaped.
    const status = end.status ?? (await worker.exited);
    log.info("tree_gone", { shutdown_ms: shutdown.elapsed() });

    /* Release */
    const killedSome = (end.kill?.killed.length ?? 0) > 0;
    if (release && !(await releaseDead(release, watch, status, killedSome)))
      return finish(EXIT.JOBGUARD_FAILED);

    /* Exit status */
    if (shutdown.failed) return finish(EXIT.JOBGUARD_FAILED);
    return finish(killedSome ? EXIT.KILLED_AT_DEADLINE : statusCode(status));
  } catch (error) {
    // Broken a second time, or after the tree was done with (in the release):
    // then there is nothing left to wait for; otherwise the last resort, armed
    // by the first error, kills it and exits before the grace.
    errors.handle(error);
    if (shutdown.state.phase !== "done") await shutdown.untilLastResort();
    return finish(EXIT.JOBGUARD_FAILED);
  }
}

/**
 * Releases what the tree's dead processes held, whatever the exit status: a
 * worker that exits 0 may leave a process that dies holding a lock (a
 * leftover that obeys the SIGTERM), and the lease, dropped here, would no
 * longer let a sweep find it. False when the release failed; then, as when
 * it was deferred, the lease stays, for a sweep.
 */
async function releaseDead(
  release: ReleasePort,
  { history, shutdown }: TreeWatch,
  status: ExitStatus,
  killedSome: boolean,
): Promise<boolean> {
  const dead = history.dead();
  if (dead.length > 0) {
    const counted = release.countsCrashes && (await shutdown.crashedOnItsOwn(status));
    const precautionary = !killedSome && status.code === 0;
    const outcome = await release.release(dead, { counted, precautionary }, shutdown.exitBy);
    if (outcome !== "released") return outcome === "deferred";
  }
  await release.finish(shutdown.exitBy - Date.now());
  return true;
}

/** Records the tree now and every few seconds until jobguard is done with it: what the release needs to know. */
function recordHistory({ tree, history, shutdown }: TreeWatch): void {
  history.record(findTree(tree));
  const recorder = setInterval(() => history.record(findTree(tree)), RECORD_EVERY_MS).unref();
  shutdown.subscribe({ done: () => clearInterval(recorder) });
}

function logStarted(log: Logger, options: SuperviseOptions, tree: TreeIdentity): void {
  log.info("started", {
    pid: process.pid,
    child: tree.rootPid,
    deadline: options.deadlineMs / 1000,
    grace: options.graceMs / 1000,
    forward: options.forward,
    forward_sigterm: options.forwardSigterm,
    reason: options.forwardReason,
    worker: options.escalation.worker,
    escalate: options.escalation.signal,
    queue: options.queue,
  });
}
