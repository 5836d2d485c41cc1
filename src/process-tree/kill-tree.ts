import { setTimeout as sleep } from "node:timers/promises";
import type { ProcessInfo } from "./proc.js";
import { findTree, rootHoldsPid, type TreeIdentity } from "./tree.js";

/** How often a tree is re-read while jobguard waits for it to go. */
export const KILL_POLL_MS = 10;

/** What a kill left: every pid it signalled, and the processes still alive when time ran out. */
export interface KillResult {
  killed: number[];
  survivors: ProcessInfo[];
}

/**
 * SIGKILLs the whole tree and waits until none of it is alive, or until `untilMs`
 * (a Date.now() value). The tree is re-read after every round because a process
 * may fork between the read and the kill.
 */
export async function killTree(tree: TreeIdentity, untilMs: number): Promise<KillResult> {
  const killed = new Set<number>();
  for (;;) {
    const members = findTree(tree);
    if (members.length === 0) return { killed: [...killed], survivors: [] };
    if (Date.now() >= untilMs) return { killed: [...killed], survivors: members };
    // While the root still holds its pid, its process group id cannot belong to
    // anyone else, and one group kill stops even processes forked a moment ago.
    if (rootHoldsPid(tree)) signal(-tree.rootPid);
    for (const member of members) if (signal(member.pid)) killed.add(member.pid);
    await sleep(KILL_POLL_MS);
  }
}

/** Sends SIGTERM once to each living process of the tree; returns the pids signalled. */
export function terminateTree(tree: TreeIdentity): number[] {
  return findTree(tree)
    .filter((member) => signal(member.pid, "SIGTERM"))
    .map((member) => member.pid);
}

function signal(pid: number, name: NodeJS.Signals = "SIGKILL"): boolean {
  try {
    process.kill(pid, name);
    return true;
  } catch {
    return false; // already gone
  }
}
