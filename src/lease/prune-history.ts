import { hostname } from "node:os";
import type { Client } from "pg";
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
    const holding = await this.queue.holding(client, hostname(), settled.map((d) => d.pid));
    this.history.forget(settled.filter((d) => !holding.has(d.pid)));
  }
}

function key(d: DeadProcess): string {
  return `${d.pid}:${d.startTime}`;
}
