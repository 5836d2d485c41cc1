import type { ChildProcess } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { now } from "../clock.js";
import { listProcesses, stillRunning, type ProcessInfo } from "./proc.js";
import { signal, stillOurs } from "./signal.js";
import { carriesMarker, findTree, rootHoldsPid, unplaced, type TreeIdentity } from "./tree.js";

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
 * (on the monotonic clock, clock.ts). The tree is frozen first (freezeTree), so
 * that a process that forks again and again, each child in a session of its
 * own, cannot fork past the kill. `beforeKill` sees the tree as it was just
 * before the kill: afterwards re-parented zombies no longer show who they were.
 * The tree is re-read after every round, and frozen again if the read shows a
 * process not seen before. A process that refuses the signal is a survivor:
 * once only such processes are left, waiting longer changes nothing.
 */
export async function killTree(
  tree: TreeIdentity,
  untilMs: number,
  beforeKill: (members: ProcessInfo[]) => void = () => {},
): Promise<KillResult> {
  const killed = new Set<number>();
  const refused = new Map<number, string>();
  const stopped = new Map<number, number>();
  const result = (survivors: ProcessInfo[]) => ({
    killed: [...killed],
    survivors,
    refused: [...refused].map(([pid, code]) => ({ pid, code })),
  });
  // The freeze may take half the time left at most: the kill must come, frozen or not.
  let members = freezeTree(tree, stopped, refused, (now() + untilMs) / 2);
  beforeKill(members);
  for (let round = 0; members.length > 0; round++) {
    // The first round kills whatever the time: a freeze that ran out of it must not skip the kill.
    if ((round > 0 && now() >= untilMs) || members.every((m) => refused.has(m.pid))) return result(members);
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
    // SIGKILL ends a stopped process too; SIGCONT only makes sure that nothing
    // jobguard stopped stays stopped, should a kill not have taken.
    for (const member of members) signal(member.pid, "SIGCONT");
    await sleep(POLL_MS[Math.min(round, POLL_MS.length - 1)]);
    members = union(
      findTree(tree),
      members.flatMap((m) => stillRunning(m.pid, m.startTime) ?? []),
    );
    if (members.some((m) => stopped.get(m.pid) !== m.startTime))
      members = union(members, freezeTree(tree, stopped, refused, untilMs));
  }
  return result([]);
}

// How many reads in a row must stop nothing new before the tree counts as frozen.
const QUIET_READS = 2;

/**
 * SIGSTOPs every process of the tree, reading it again until QUIET_READS reads
 * in a row find every process of it stopped already, or `untilMs` comes;
 * returns the last read (there is always one). A stopped process cannot fork:
 * a fork under way when SIGSTOP arrives is restarted once the process is
 * continued, and a child forked just before is there for the next read. A
 * process that re-forks every few milliseconds, each child in a session of
 * its own, lives for less than a read of /proc takes: a process carrying the
 * marker is stopped the moment it is read, newest first (listProcesses). A
 * read may still have raced a fork, hence a second read that must stop
 * nothing either; and a read that shows a process in the middle of an exec,
 * whose marker cannot be read, does not count. `stopped` (pid -> start time:
 * each process signalled) and `refused` carry over between calls.
 */
function freezeTree(
  tree: TreeIdentity,
  stopped: Map<number, number>,
  refused: Map<number, string>,
  untilMs: number,
): ProcessInfo[] {
  let stoppedNow = 0;
  // Stopped is what /proc says: the kernel continues a stopped process whose
  // process group is orphaned (`setsid -f`'s child, stopped before it left its
  // parent's group, when the parent exits), and such a process is stopped again.
  // One in uninterruptible sleep (D) stops only when it wakes, but cannot fork
  // before: once signalled, it is left to stop. So are those that refused.
  const settled = (p: ProcessInfo) =>
    p.state === "T" ||
    p.state === "t" ||
    refused.has(p.pid) ||
    (p.state === "D" && stopped.get(p.pid) === p.startTime);
  const stop = (p: ProcessInfo) => {
    if (settled(p)) return;
    const outcome = signal(p.pid, "SIGSTOP");
    if ("refused" in outcome) refused.set(p.pid, outcome.refused);
    stopped.set(p.pid, p.startTime);
    stoppedNow++;
  };
  // The group first: one signal stops all of it at once.
  if (rootHoldsPid(tree)) signal(-tree.rootPid, "SIGSTOP");
  for (let quiet = 0; ;) {
    stoppedNow = 0;
    // A stopped process needs no look at its environment.
    const processes = listProcesses((p) => !settled(p) && carriesMarker(tree, p) && stop(p));
    // And what only the parent links tie to the tree (a process that emptied its environment).
    const found = findTree(tree, processes);
    for (const p of found) stop(p);
    quiet = stoppedNow === 0 && unplaced(tree, processes, found).length === 0 ? quiet + 1 : 0;
    if (quiet >= QUIET_READS || now() >= untilMs) return found;
  }
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
