import { environmentHas, listProcesses, readProcess, type ProcessInfo } from "./proc.js";
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
