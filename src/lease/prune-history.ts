import { hostname } from "node:os";
import type { Client } from "../postgres/client.js";
import type { DeadProcess, TreeHistory } from "../process-tree/tree-history.js";
import type { RescueSupport } from "../queues/adapter.js";

/**
 * Keeps the tree's history as small as the tree: a dead process that holds
 * no lock can never take one, so it is forgotten. Without this, every child a
 * job shells out to would stay in the history, in the lease, and in the
 * release, for as long as the worker runs.
 */
export class HistoryPruner {
  /** The dead processes seen at the previous prune. */
  private deadBefore = new Set<string>();

  constructor(
    private readonly history: TreeHistory,
    private readonly queue: RescueSupport,
  ) {}

  /** Forgets the processes dead since the previous call that hold no lock now; one query, none if nothing died. */
  async prune(client: Client): Promise<void> {
    const dead = this.history.dead();
    // Only those dead at the previous call too: a COMMIT a process sent just
    // before it died may still be on its way to the server.
    const settled = dead.filter((d) => this.deadBefore.has(key(d)));
    this.deadBefore = new Set(dead.map(key));
    if (settled.length === 0) return;
    const holding = await this.queue.holding(
      client,
      hostname(),
      settled.map((d) => d.pid),
    );
    this.history.forget(settled.filter((d) => !holding.has(d.pid)));
  }
}

/**
 * How many dead processes a history keeps where no database says which of
 * them hold claims (the sql queue: jobguard cannot ask the user's table).
 * The release then passes at most this many dead pids.
 */
export const MAX_UNCHECKED_DEAD = 10_000;

/**
 * Keeps the history of a queue without leases bounded: of its dead
 * processes, the `max` that died last. Those that matter most die last: the
 * tree killed at the deadline, a worker that crashed. One that died holding
 * a claim while `max` others died after it, the worker running on, is
 * forgotten, and its claim left to the queue's own timeout: never released
 * early, never a live process's.
 */
export class DeadLimit {
  /** The dead processes, in the order they were first seen dead. */
  private readonly order = new Map<string, DeadProcess>();

  constructor(
    private readonly history: TreeHistory,
    private readonly max = MAX_UNCHECKED_DEAD,
  ) {}

  /** Notes the processes dead since the previous call, and forgets the earliest dead beyond `max`. */
  prune(): void {
    const dead = this.history.dead();
    const now = new Set(dead.map(key));
    for (const k of this.order.keys()) if (!now.has(k)) this.order.delete(k);
    for (const d of dead) if (!this.order.has(key(d))) this.order.set(key(d), d);
    const excess = [...this.order.values()].slice(0, Math.max(0, this.order.size - this.max));
    this.history.forget(excess);
    for (const d of excess) this.order.delete(key(d));
  }
}

function key(d: DeadProcess): string {
  return `${d.pid}:${d.startTime}`;
}
