import { isDead, readProcess, startedAtMs, stillRunning, type ProcessInfo } from "./proc.js";

/** A process of the tree that is dead now; its pid may already belong to a newer process. */
export interface DeadProcess {
  pid: number;
  /** When a newer process took the pid (Date.now() terms); locks taken since are that process's. */
  reusedSince?: number;
}

/**
 * Every process the worker tree has had. A worker that dies on its own (OOM
 * killer, segfault) is gone before anyone can look at it, so the tree is
 * recorded while it lives: at start, every few seconds, and just before a kill.
 */
export class TreeHistory {
  /** pid -> start time, which tells the recorded process from a later one with its pid. */
  private readonly seen = new Map<number, number>();

  /** Adds these processes to the history. */
  record(processes: readonly ProcessInfo[]): void {
    for (const p of processes) this.seen.set(p.pid, p.startTime);
  }

  /** The recorded processes that still run. */
  running(): ProcessInfo[] {
    return [...this.seen].flatMap(([pid, startTime]) => stillRunning(pid, startTime) ?? []);
  }

  /** Every recorded pid. */
  all(): number[] {
    return [...this.seen.keys()];
  }

  /**
   * The recorded processes that are dead. A pid that a newer process holds
   * again (pids wrap around on a busy host) comes with the time that process
   * started: a lock under that pid's name taken since might be its own.
   */
  dead(): DeadProcess[] {
    const dead: DeadProcess[] = [];
    for (const [pid, startTime] of this.seen) {
      const now = readProcess(pid);
      if (now === undefined || isDead(now)) dead.push({ pid });
      else if (now.startTime !== startTime) dead.push({ pid, reusedSince: startedAtMs(now) });
    }
    return dead;
  }
}
