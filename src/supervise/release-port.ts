import type { DeadProcess, TreeHistory } from "../process-tree/tree-history.js";

// The supervisor's one port to the database side. It is defined here, below
// it, so that the supervisor knows nothing of databases: release/release.ts
// implements it, and main.ts hands it in when a queue is configured.

/** How one release is done. */
export interface ReleaseMode {
  /** The worker crashed on its own (rule 8): its jobs count toward max-rescues. */
  counted: boolean;
  /**
   * The worker exited 0 and nothing was killed: the release is a precaution
   * (a process of the tree may still have died holding a lock), and one that
   * finds nothing is no news.
   */
  precautionary: boolean;
}

/** How a release ended. */
export type ReleaseOutcome = "released" | "deferred" | "failed";

/** What jobguard does around a kill when a queue is configured: see release/. */
export interface ReleasePort {
  /** Variables the worker's environment gets (a PGAPPNAME tag). */
  childEnv: Record<string, string>;
  /** Whether a release counts crashes (a queue with leases); only then is a crash told from a restart, which may take a second. */
  countsCrashes: boolean;
  /**
   * The worker runs: start its lease over the tree's history (recorded every
   * few seconds). `stop` asks for a shutdown from the database side (a lease
   * that can no longer be renewed must stop its worker): the worker gets one
   * SIGTERM through the relay unless a request to stop has reached it already
   * (rule 2), then come the deadline, the kill, the release and the exit, as
   * at a platform's SIGTERM. Such a run ends with the worker's status, or 124
   * when the tree had to be killed: it is no failure of jobguard's.
   */
  start(history: TreeHistory, stop: (reason: string) => void): void;
  /** The shutdown has begun: get ready, so that the release costs one round trip. */
  prepare(): void;
  /**
   * The tree is gone: release what these dead processes held, by `untilMs`
   * (on the monotonic clock, clock.ts). "failed" when it could not, "deferred" when it must not (another tree may
   * hold locks under the same names): either way the lease must stay, for a
   * sweep; only a failure is jobguard's.
   */
  release(dead: DeadProcess[], mode: ReleaseMode, untilMs: number): Promise<ReleaseOutcome>;
  /** All is released, or nothing died that could hold a lock: drop the lease. */
  finish(timeoutMs: number): Promise<void>;
}
