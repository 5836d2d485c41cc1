import type { DeadProcess, TreeHistory } from "../process-tree/tree-history.js";

// The supervisor's one port to the database side. It is defined here, below
// it, so that the supervisor knows nothing of databases: release/release.ts
// implements it, and cli.ts hands it in when a queue is configured.

/** What jobguard does around a kill when a queue is configured: see release/. */
export interface ReleasePort {
  /** Variables the worker's environment gets (a PGAPPNAME tag). */
  childEnv: Record<string, string>;
  /** The worker runs: start its lease over the tree's history (recorded every few seconds). */
  start(history: TreeHistory): void;
  /** The first shutdown signal came: get ready, so that the release costs one round trip. */
  prepare(): void;
  /**
   * The tree is gone: release what these dead processes held; `crashed()`
   * tells, if asked, whether the worker crashed rather than being asked to
   * stop. Resolves false when it could not.
   */
  release(dead: DeadProcess[], untilMs: number, crashed: () => Promise<boolean>): Promise<boolean>;
  /** All is cleaned up: drop the lease. */
  finish(timeoutMs: number): Promise<void>;
}
