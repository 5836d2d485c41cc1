import { isDead, type ProcessInfo } from "./proc.js";
import type { TreeIdentity } from "./tree.js";

/**
 * The living processes of the tree in a snapshot of processes, without
 * reading anything: `hasMarker(pid)` says whether a process's environment
 * carries the tree's marker, `self` is jobguard's own pid. A process belongs to
 * the tree when it started no earlier than the root and either descends from
 * it by parent pid or carries the marker. The marker is what finds descendants
 * that left the process group (setsid) and were re-parented to init (double
 * fork), where the parent chain is broken; the start-time bound keeps reused
 * pids out.
 */
export function treeMembers(
  tree: TreeIdentity,
  processes: readonly ProcessInfo[],
  hasMarker: (pid: number) => boolean,
  self: number,
): ProcessInfo[] {
  const candidates = processes.filter((p) => p.startTime >= tree.rootStartTime && p.pid !== self);
  const members = new Map<number, ProcessInfo>();
  const root = candidates.find((p) => p.pid === tree.rootPid && p.startTime === tree.rootStartTime);
  if (root) members.set(root.pid, root);
  addDescendants(candidates, members);
  for (const p of candidates) {
    if (!members.has(p.pid) && !isDead(p) && hasMarker(p.pid)) members.set(p.pid, p);
  }
  addDescendants(candidates, members);
  return [...members.values()].filter((p) => !isDead(p));
}

function addDescendants(candidates: ProcessInfo[], members: Map<number, ProcessInfo>): void {
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of candidates) {
      if (!members.has(p.pid) && members.has(p.ppid)) {
        members.set(p.pid, p);
        grew = true;
      }
    }
  }
}
