import {
  environmentEmpty,
  environmentHas,
  isDead,
  listProcesses,
  readProcess,
  type ProcessInfo,
} from "./proc.js";
import { treeMembers } from "./tree-members.js";

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
 * The living processes of the tree (see treeMembers), from `processes`, a
 * listing of /proc already at hand, or a fresh one.
 */
export function findTree(tree: TreeIdentity, processes: ProcessInfo[] = listProcesses()): ProcessInfo[] {
  return treeMembers(tree, processes, (pid) => environmentHas(pid, TREE_ENV, tree.marker), process.pid);
}

/** True when this process, alive and started since the root, carries the tree's marker: one of the tree without a doubt. */
export function carriesMarker(tree: TreeIdentity, p: ProcessInfo): boolean {
  return (
    p.startTime >= tree.rootStartTime &&
    p.pid !== process.pid &&
    !isDead(p) &&
    environmentHas(p.pid, TREE_ENV, tree.marker)
  );
}

// Linux's kernel threads are kthreadd (pid 2) and its children: no environment, ever.
const KTHREADD = 2;

/**
 * The processes of a listing that findTree could not place: started since the
 * root, alive, not members, and with an environment that read as empty, as
 * during an exec, so that the marker could not be seen. Such a process may be
 * the tree's; a read that shows one settles nothing.
 */
export function unplaced(
  tree: TreeIdentity,
  processes: ProcessInfo[],
  members: ProcessInfo[],
): ProcessInfo[] {
  const known = new Set(members.map((m) => m.pid));
  return processes.filter(
    (p) =>
      p.startTime >= tree.rootStartTime &&
      !known.has(p.pid) &&
      p.pid !== process.pid &&
      p.pid !== KTHREADD &&
      p.ppid !== KTHREADD &&
      !isDead(p) &&
      environmentEmpty(p.pid),
  );
}
