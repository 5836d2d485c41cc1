import { readdirSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

// The tests, the benchmarks and the demo read /proc on their own rather than
// through src/process-tree, so that a bug there cannot hide itself.

/** The parent pid of a process, or undefined when it is gone or a zombie. */
export function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return fields[0] === "Z" ? undefined : Number(fields[1]);
  } catch {
    return undefined;
  }
}

/** True while the process runs (a zombie counts as gone). */
export function isAlive(pid: number): boolean {
  return parentOf(pid) !== undefined;
}

/** Every living process whose environment has name=value (readable to us: we run as the same user). */
export function processesWithEnv(name: string, value: string): number[] {
  const wanted = `${name}=${value}`;
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || !isAlive(pid)) continue;
    try {
      if (readFileSync(`/proc/${pid}/environ`, "latin1").split("\0").includes(wanted)) found.push(pid);
    } catch {
      // Gone meanwhile, or not ours.
    }
  }
  return found;
}

/** Every living descendant of pid, by parent links. */
export function descendantsOf(pid: number): number[] {
  const parents = new Map<number, number>();
  for (const name of readdirSync("/proc")) {
    const child = Number(name);
    if (!Number.isInteger(child)) continue;
    const parent = parentOf(child);
    if (parent !== undefined) parents.set(child, parent);
  }
  const found = new Set([pid]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [child, parent] of parents) {
      if (!found.has(child) && found.has(parent)) {
        found.add(child);
        grew = true;
      }
    }
  }
  found.delete(pid);
  return [...found];
}

/** Waits until none of the pids is alive; returns those still alive after timeoutMs. */
export async function waitGone(pids: number[], timeoutMs = 3000): Promise<number[]> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const alive = pids.filter(isAlive);
    if (alive.length === 0 || Date.now() > until) return alive;
    await sleep(20);
  }
}

/** Reads pids a fixture wrote, one per line. */
export function readPids(file: string): number[] {
  try {
    return readFileSync(file, "utf8").split("\n").filter(Boolean).map(Number);
  } catch {
    return [];
  }
}
