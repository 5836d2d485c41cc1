import { isDead, listProcesses, startedAtMs, type ProcessInfo } from "./proc.js";

/** A process of the tree that is dead now; its pid may already belong to a newer process. */
export interface DeadProcess {
  pid: number;
  /** The dead process's start time, which names it apart from any later holder of its pid. */
  startTime: number;
  /** When a newer process took the pid (Date.now() terms); locks taken since are that process's. */
  reusedSince?: number;
}

/**
 * Every process the worker tree has had that may still hold a lock. A worker
 * that dies on its own (OOM killer, segfault) is gone before anyone can look
 * at it, so the tree is recorded while it lives: at start, every few seconds,
 * and just before a kill. Dead processes that hold no lock are forgotten
 * (see forget), or a worker that shells out for every job would make the
 * history grow for as long as it runs.
 */
export class TreeHistory {
  /** pid -> start time, which tells the recorded process from a later one with its pid. */
  private readonly seen = new Map<number, number>();

  /** Adds these processes to the history. */
  record(processes: readonly ProcessInfo[]): void {
    for (const p of processes) this.seen.set(p.pid, p.startTime);
  }

  /** The recorded processes that still run, by `processes`, a listing of /proc. */
  running(processes: ProcessInfo[]): ProcessInfo[] {
    const now = living(processes);
    return [...this.seen].flatMap(([pid, startTime]) => {
      const p = now.get(pid);
      return p && p.startTime === startTime ? [p] : [];
    });
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
    const now = living(listProcesses());
    const dead: DeadProcess[] = [];
    for (const [pid, startTime] of this.seen) {
      const p = now.get(pid);
      if (p === undefined) dead.push({ pid, startTime });
      else if (p.startTime !== startTime) dead.push({ pid, startTime, reusedSince: startedAtMs(p) });
    }
    return dead;
  }

  /** Drops these dead processes, unless their pid has been recorded for a newer process since. */
  forget(dead: readonly DeadProcess[]): void {
    for (const d of dead) if (this.seen.get(d.pid) === d.startTime) this.seen.delete(d.pid);
  }
}

// One read of /proc for the whole history, however long it is: a read per
// recorded pid would cost the release a second for every 40,000 of them.
function living(processes: ProcessInfo[]): Map<number, ProcessInfo> {
  return new Map(processes.flatMap((p) => (isDead(p) ? [] : [[p.pid, p] as const])));
}
