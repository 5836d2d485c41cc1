import { setTimeout as sleep } from "node:timers/promises";
import { stillRunning, type ProcessInfo } from "./proc.js";
import { findTree, rootHoldsPid, type TreeIdentity } from "./tree.js";

// Re-reads of the tree after a kill: quick at first, since SIGKILL usually
// takes a millisecond or two, then every 10 ms.
const POLL_MS = [1, 2, 4, 8, 10];

/** What a kill left: every pid it signalled, and the processes still alive when time ran out. */
export interface KillResult {
  killed: number[];
  survivors: ProcessInfo[];
}

/**
 * SIGKILLs the whole tree and waits until none of it is alive, or until `untilMs`
 * (a Date.now() value). `beforeKill` sees the tree as it was just before the
 * kill: afterwards re-parented zombies no longer show who they were. The tree
 * is re-read after every round because a process may fork between the read
 * and the kill.
 */
export async function killTree(
  tree: TreeIdentity,
  untilMs: number,
  beforeKill: (members: ProcessInfo[]) => void = () => {},
): Promise<KillResult> {
  const killed = new Set<number>();
  let members = findTree(tree);
  beforeKill(members);
  for (let round = 0; members.length > 0; round++) {
    if (Date.now() >= untilMs) return { killed: [...killed], survivors: members };
    // While the root still holds its pid, its process group id cannot belong to
    // anyone else, and one group kill stops even processes forked a moment ago.
    if (rootHoldsPid(tree)) signal(-tree.rootPid);
    for (const member of members) if (signal(member.pid)) killed.add(member.pid);
    await sleep(POLL_MS[Math.min(round, POLL_MS.length - 1)]);
    members = union(findTree(tree), members.flatMap((m) => stillRunning(m.pid, m.startTime) ?? []));
  }
  return { killed: [...killed], survivors: [] };
}

/** Sends SIGTERM once to each living process of the tree; returns the pids signalled. */
export function terminateTree(tree: TreeIdentity): number[] {
  return findTree(tree)
    .filter((member) => signal(member.pid, "SIGTERM"))
    .map((member) => member.pid);
}

/** The processes of both lists, once each. */
export function union(a: ProcessInfo[], b: ProcessInfo[]): ProcessInfo[] {
  const byPid = new Map(a.map((p) => [p.pid, p]));
  for (const p of b) byPid.set(p.pid, p);
  return [...byPid.values()];
}

function signal(pid: number, name: NodeJS.Signals = "SIGKILL"): boolean {
  try {
    process.kill(pid, name);
    return true;
  } catch {
    return false; // already gone
  }
}
