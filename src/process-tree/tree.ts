import { environmentHas, isDead, listProcesses, readProcess, type ProcessInfo } from "./proc.js";

/** The environment variable that marks every process of a worker tree. */
export const TREE_ENV = "JOBGUARD_TREE";

/** What identifies one worker tree: its root process and the marker its processes inherit. */
export interface TreeIdentity {
  rootPid: number;
  rootStartTime: number;
  marker: string;
}

/**
 * A marker unique to this jobguard run: no other process holds its pid now,
 * and none held it at the same millisecond. (No node:crypto: it would cost
 * memory for the whole run, and the marker needs no secrecy.)
 */
export function newMarker(): string {
  return `${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

/** The child's JOBGUARD_TREE value: a nested jobguard keeps the outer markers so the outer one still finds its tree. */
export function markerEnvValue(inherited: string | undefined, marker: string): string {
  return inherited ? `${inherited},${marker}` : marker;
}

/** True while the root process itself (alive or an unreaped zombie) still holds its pid. */
export function rootHoldsPid(tree: TreeIdentity): boolean {
  return readProcess(tree.rootPid)?.startTime === tree.rootStartTime;
}

/**
 * The living processes of the tree. A process belongs to it when it started no
 * earlier than the root and either descends from it by parent pid or carries the
 * tree's marker in its environment. The marker is what finds descendants that
 * left the process group (setsid) and were re-parented to init (double fork),
 * where the parent chain is broken; the start-time bound keeps reused pids out.
 * `processes` is a listing of /proc already at hand, if any.
 */
export function findTree(tree: TreeIdentity, processes: ProcessInfo[] = listProcesses()): ProcessInfo[] {
  const candidates = processes.filter(
    (p) => p.startTime >= tree.rootStartTime && p.pid !== process.pid,
  );
  const members = new Map<number, ProcessInfo>();
  const root = candidates.find((p) => p.pid === tree.rootPid && p.startTime === tree.rootStartTime);
  if (root) members.set(root.pid, root);
  addDescendants(candidates, members);
  for (const p of candidates) {
    if (!members.has(p.pid) && !isDead(p) && environmentHas(p.pid, TREE_ENV, tree.marker)) members.set(p.pid, p);
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
