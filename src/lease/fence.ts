import { performance } from "node:perf_hooks";

// Node's timers hold at most 2^31 - 1 ms; a longer wait is taken in steps.
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The lease's promise to the fleet's sweepers: this worker tree is gone
 * before its lease can look stale. A sweeper judges a lease stale once the
 * database's clock has passed its last heartbeat by its stale-after; the
 * database wrote that heartbeat after jobguard sent it. So if jobguard
 * stops its worker when `windowMs` (stale-after less the grace and a margin)
 * has passed, on its own monotonic clock, since it sent a renewal the
 * database confirmed, the shutdown (SIGTERM, the deadline, the kill, all
 * within the grace) has ended the tree before any sweep may judge it.
 *
 * The fence counts from the renewal before the latest confirmed one: after a
 * failover to a standby that had not yet replayed the latest, the new primary
 * still holds the one before. Before any renewal is confirmed it counts from
 * the first one sent: a write that timed out may have been committed all the
 * same. Only a write the server refused (an error it answered, so nothing was
 * written) takes the fence down again, if nothing was confirmed before.
 *
 * Everything runs on performance.now(), which does not step with the wall
 * clock, and timers, which do not either.
 */
export class Fence {
  /** When the window counts from; undefined while no renewal may have been written. */
  private anchor: number | undefined;
  /** When the latest confirmed renewal was sent. */
  private latest: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private done = false;

  constructor(
    private readonly windowMs: number,
    /** Called once, when the window has passed: stop the worker. */
    private readonly expire: (silentMs: number) => void,
  ) {}

  /** A renewal is about to be sent: its start, to hand to confirmed(). Arms the fence with the first. */
  sending(): number {
    const now = performance.now();
    if (this.anchor === undefined && !this.done) {
      this.anchor = now;
      this.arm();
    }
    return now;
  }

  /** The database confirmed the renewal sent at `sentAt`. */
  confirmed(sentAt: number): void {
    if (this.done) return;
    this.anchor = this.latest ?? this.anchor ?? sentAt;
    this.latest = sentAt;
    this.arm();
  }

  /** The server refused the first write: no lease exists, so there is nothing to fence. */
  refused(): void {
    if (this.latest !== undefined) return;
    this.anchor = undefined;
    clearTimeout(this.timer);
  }

  /** jobguard is done with the lease. */
  stop(): void {
    this.done = true;
    clearTimeout(this.timer);
  }

  private arm(): void {
    clearTimeout(this.timer);
    if (this.anchor === undefined) return;
    const left = this.anchor + this.windowMs - performance.now();
    if (left <= 0) return this.fire();
    this.timer = setTimeout(() => this.arm(), Math.min(left, MAX_TIMER_MS)).unref();
  }

  private fire(): void {
    const silentMs = Math.round(performance.now() - (this.latest ?? this.anchor ?? performance.now()));
    this.stop();
    this.expire(silentMs);
  }
}
