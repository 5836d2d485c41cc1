import pg from "pg";
import { dynoProcesses } from "./procs.js";

// The soak's eye on the fleet, a few times a second: which workers it has seen
// and when each died, and which jobs are locked by a worker that is dead, for
// how long (until a release or a rescue hands them back).

/** A job's lock held by a dead worker. */
export interface DeadLock {
  id: string;
  lockedBy: string;
  /** When its worker was first seen dead. */
  since: number;
}

export class LockWatch {
  /** Every pid of every dyno seen alive. */
  readonly seen = new Set<number>();
  /** The longest a job stayed locked by a dead worker, and which. */
  longest: (DeadLock & { ms: number }) | undefined;
  private readonly workers = new Map<number, number | undefined>(); // pid -> when first seen dead
  private readonly deadLocks = new Map<string, DeadLock>();
  private readonly pool: pg.Pool;

  constructor(
    private readonly soakId: string,
    databaseUrl: string,
  ) {
    this.pool = new pg.Pool({ connectionString: databaseUrl, max: 1, connectionTimeoutMillis: 1000 });
    this.pool.on("error", () => {}); // a severed or restarted session: the next sample reconnects
  }

  /** One look at the processes and the locks; a database that does not answer skips the locks. */
  async sample(): Promise<void> {
    const now = Date.now();
    const alive = new Set<number>();
    for (const p of dynoProcesses(`${this.soakId}:`)) {
      alive.add(p.pid);
      this.seen.add(p.pid);
      if (p.command.startsWith("ruby ") && !this.workers.has(p.pid)) this.workers.set(p.pid, undefined);
    }
    for (const [pid, diedAt] of this.workers)
      if (diedAt === undefined && !alive.has(pid)) this.workers.set(pid, now);
    let rows: { id: string; locked_by: string }[];
    try {
      ({ rows } = await this.pool.query<{ id: string; locked_by: string }>(
        "SELECT id, locked_by FROM delayed_jobs WHERE locked_by IS NOT NULL",
      ));
    } catch {
      return;
    }
    const held = new Set<string>();
    for (const row of rows) {
      const diedAt = this.workers.get(Number(/ pid:(\d+)$/.exec(row.locked_by)?.[1]));
      if (diedAt === undefined) continue;
      const key = `${row.id} ${row.locked_by}`;
      held.add(key);
      if (!this.deadLocks.has(key))
        this.deadLocks.set(key, { id: row.id, lockedBy: row.locked_by, since: diedAt });
    }
    for (const [key, lock] of this.deadLocks) {
      if (held.has(key)) continue;
      this.deadLocks.delete(key);
      const ms = now - lock.since;
      if (!this.longest || ms > this.longest.ms) this.longest = { ...lock, ms };
    }
  }

  /** The locks of dead workers still held at the last sample. */
  stuck(): DeadLock[] {
    return [...this.deadLocks.values()];
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => {});
  }
}
