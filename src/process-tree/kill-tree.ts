import type { ChildProcess } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { now } from "../clock.js";
import { stillRunning, type ProcessInfo } from "./proc.js";
import { signal, stillOurs } from "./signal.js";
import { findTree, rootHoldsPid, type TreeIdentity } from "./tree.js";

// Re-reads of the tree after a kill: quick at first, since SIGKILL usually
// takes a millisecond or two, then every 10 ms.
const POLL_MS = [1, 2, 4, 8, 10];

/** A process the kernel would not let jobguard signal, and why (EPERM: it runs as another user). */
export interface Refusal {
  pid: number;
  code: string;
}

/** What a kill left: every pid it signalled, the processes still alive when time ran out, and the refusals. */
export interface KillResult {
  killed: number[];
  survivors: ProcessInfo[];
  refused: Refusal[];
}

/**
 * SIGKILLs the whole tree and waits until none of it is alive, or until `untilMs`
 * (on the monotonic clock, clock.ts). `beforeKill` sees the tree as it was just before the
 * kill: afterwards re-parented zombies no longer show who they were. The tree
 * is re-read after every round because a process may fork between the read
 * and the kill. A process that refuses the signal is a survivor: once only
 * such processes are left, waiting longer changes nothing.
 */
export async function killTree(
  tree: TreeIdentity,
  untilMs: number,
  beforeKill: (members: ProcessInfo[]) => void = () => {},
): Promise<KillResult> {
  const killed = new Set<number>();
  const refused = new Map<number, string>();
  const result = (survivors: ProcessInfo[]) => ({
    killed: [...killed],
    survivors,
    refused: [...refused].map(([pid, code]) => ({ pid, code })),
  });
  let members = findTree(tree);
  beforeKill(members);
  for (let round = 0; members.length > 0; round++) {
    if (now() >= untilMs || members.every((m) => refused.has(m.pid))) return result(members);
    // While the root still holds its pid, its process group id cannot belong to
    // anyone else, and one group kill stops even processes forked a moment ago.
    // (The group kill's own errors say nothing about any one process: each
    // member is signalled below, and its refusal recorded, anyway.)
    if (rootHoldsPid(tree)) signal(-tree.rootPid, "SIGKILL");
    for (const member of members) {
      const outcome = signal(member.pid, "SIGKILL");
      if ("sent" in outcome) killed.add(member.pid);
      if ("refused" in outcome) refused.set(member.pid, outcome.refused);
    }
    await sleep(POLL_MS[Math.min(round, POLL_MS.length - 1)]);
    members = union(
      findTree(tree),
      members.flatMap((m) => stillRunning(m.pid, m.startTime) ?? []),
    );
  }
  return result([]);
}

/** Sends SIGTERM once to each living process of the tree; returns the pids signalled and those that refused. */
export function terminateTree(tree: TreeIdentity): { signalled: number[]; refused: Refusal[] } {
  const signalled: number[] = [];
  const refused: Refusal[] = [];
  for (const { pid } of findTree(tree)) {
    const outcome = signal(pid, "SIGTERM");
    if ("sent" in outcome) signalled.push(pid);
    if ("refused" in outcome) refused.push({ pid, code: outcome.refused });
  }
  return { signalled, refused };
}

/** The processes of both lists, once each. */
export function union(a: ProcessInfo[], b: ProcessInfo[]): ProcessInfo[] {
  const byPid = new Map(a.map((p) => [p.pid, p]));
  for (const p of b) byPid.set(p.pid, p);
  return [...byPid.values()];
}

/**
 * SIGKILLs what can be found of the tree at once, without waiting: the last
 * resort when jobguard must exit and its main path is broken. The group kill
 * needs nothing but kill(2), and is safe while the root is still ours
 * (jobguard has not reaped it, so its pid is still the group's); /proc, if it
 * still answers, adds what left the group. Nothing is waited for or reported.
 */
export function killTreeNow(root: ChildProcess, tree: TreeIdentity | undefined): void {
  try {
    const group = stillOurs(root) ? root.pid : tree && rootHoldsPid(tree) ? tree.rootPid : undefined;
    if (group !== undefined) signal(-group, "SIGKILL");
    for (const member of tree ? findTree(tree) : []) signal(member.pid, "SIGKILL");
  } catch {
    // /proc failed us: the group kill above is all that could be done.
  }
}
