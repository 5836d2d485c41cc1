import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "../log.js";
import { killTree, terminateTree, union, type KillResult, type Refusal } from "../process-tree/kill-tree.js";
import { listProcesses } from "../process-tree/proc.js";
import type { TreeHistory } from "../process-tree/tree-history.js";
import { findTree, type TreeIdentity } from "../process-tree/tree.js";
import type { ExitStatus } from "./exit.js";
import type { Shutdown } from "./shutdown.js";

// How often leftovers are looked for once the worker itself has exited.
const LEFTOVER_POLL_MS = 50;

/** The tree being waited for, and what the waiting reports to. */
export interface TreeWatch {
  tree: TreeIdentity;
  history: TreeHistory;
  shutdown: Shutdown;
  log: Logger;
}

/**
 * How the tree ended: the worker's status (unknown when the kill gave up
 * before the worker could be reaped) and the deadline's kill, if it came to one.
 */
export interface TreeEnd {
  status?: ExitStatus;
  kill?: KillResult;
}

/**
 * At the deadline, SIGKILLs the whole tree, descendants that left the process
 * group included, recording it first for the release (afterwards re-parented
 * zombies no longer show who they were), and waits until none of it is alive
 * or exit-by comes. Never resolves if the deadline never fires.
 */
export async function killAtDeadline(watch: TreeWatch): Promise<KillResult> {
  const { tree, history, shutdown, log } = watch;
  await shutdown.deadline;
  const result = await killTree(tree, shutdown.exitBy, (members) => history.record(members));
  log.info("deadline_exceeded", {
    deadline: shutdown.timing.deadlineMs / 1000,
    killed: result.killed.join(","),
  });
  logRefusals(log, "SIGKILL", result.refused);
  return result;
}

/**
 * Resolves once the whole tree is gone: the worker has exited and so have
 * the processes it started; or the deadline's kill (`killed`) has ended,
 * which may give up on survivors stuck in the kernel: jobguard must not wait
 * for a child that will never be reaped.
 */
export function awaitTree(
  exited: Promise<ExitStatus>,
  killed: Promise<KillResult>,
  watch: TreeWatch,
): Promise<TreeEnd> {
  return Promise.race([
    exited.then(async (status) => ({ status, kill: await leftoversGone(killed, watch) })),
    killed.then((kill) => ({ kill })),
  ]);
}

// The worker may exit while children it started live on: those are the
// tree's too, and jobguard does not exit before they are gone.
async function leftoversGone(killed: Promise<KillResult>, watch: TreeWatch): Promise<KillResult | undefined> {
  const { tree, history, shutdown, log } = watch;
  for (;;) {
    if (shutdown.state.phase === "killing") return killed;
    const processes = listProcesses();
    const leftovers = union(findTree(tree, processes), history.running(processes));
    if (leftovers.length === 0) return undefined;
    history.record(leftovers);
    // Leftovers begin a shutdown, unless one has begun: each gets one SIGTERM, then the deadline.
    if (shutdown.beginOnLeftovers()) {
      const { signalled, refused } = terminateTree(tree);
      log.info("leftovers", { signal: "SIGTERM", pids: signalled.join(",") });
      logRefusals(log, "SIGTERM", refused);
    }
    await sleep(LEFTOVER_POLL_MS);
  }
}

/** A process jobguard may not signal lives on: say so, it will count as a survivor. */
function logRefusals(log: Logger, signal: NodeJS.Signals, refused: Refusal[]): void {
  if (refused.length === 0) return;
  log.error("signal_failed", `could not send ${signal} to processes of the worker tree`, {
    pids: refused.map((r) => `${r.pid}:${r.code}`).join(","),
  });
}
