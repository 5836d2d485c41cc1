import { isDead, readProcess, type ProcessInfo } from "./proc.js";

/**
 * Every pid the worker tree has had. A worker that dies on its own (OOM killer,
 * segfault) is gone before anyone can look at it, so the tree is recorded while
 * it lives: at start, every few seconds, and just before a kill.
 */
export class TreeHistory {
  private readonly seen = new Set<number>();

  /** Adds these processes to the history. */
  record(processes: readonly ProcessInfo[]): void {
    for (const p of processes) this.seen.add(p.pid);
  }

  /** Every recorded pid. */
  all(): number[] {
    return [...this.seen];
  }

  /**
   * The recorded pids that no process holds now. A pid that some process holds
   * again, even a stranger that reused it, is left out: a lock under that pid's
   * name might be that live process's own.
   */
  deadPids(): number[] {
    return [...this.seen].filter((pid) => {
      const now = readProcess(pid);
      return now === undefined || isDead(now);
    });
  }
}
