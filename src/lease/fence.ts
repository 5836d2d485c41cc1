import { now } from "../clock.js";

// Node's timers hold at most 2^31 - 1 ms; a longer wait is taken in steps.
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * How many confirmed renewals the fence keeps that are not yet a replication
 * lag older than the latest. The keepers confirm at most one renewal per
 * heartbeat or retry, 100 ms apart at the least, so a lag of 2 s needs about
 * twenty; should more come, the newest takes the place of the one before it,
 * which only ever leaves the fence counting from an older renewal.
 */
const MAX_PENDING = 32;

/** A renewal the database confirmed: when it was sent, and when jobguard heard so. */
interface Confirmed {
  sentAt: number;
  confirmedAt: number;
}

/**
 * The lease's promise to the fleet's sweepers: this worker tree is gone
 * before its lease can look stale. A sweeper judges a lease stale once the
 * database's clock has passed its last heartbeat by its stale-after; the
 * database wrote that heartbeat after jobguard sent it. So if jobguard
 * stops its worker when `windowMs` (stale-after less the grace and a margin)
 * has passed, on its own monotonic clock, since it sent a renewal the
 * database surely holds, the shutdown (SIGTERM, the deadline, the kill, all
 * within the grace) has ended the tree before any sweep may judge it.
 *
 * Which renewal the database surely holds: after a failover to an
 * asynchronous standby, the new primary holds every commit that the old one
 * made more than the replication lag (`lagMs`, config/rescue.ts) before it
 * failed, and may have lost every later one. The old primary committed the
 * latest confirmed renewal after jobguard sent it, and failed after that
 * commit; a renewal jobguard heard confirmed at least `lagMs` before it sent
 * the latest was committed earlier still, so more than the lag before the
 * failure: the new primary holds it. (If the latest was confirmed by the new
 * primary, the database holds that one, sent later still.) The fence counts
 * from the newest such renewal. It compares confirmation times, not send
 * times: a slow commit (a lock, an I/O stall, what comes with a lagging
 * standby) may land well after its send. That renewal is never the latest
 * (confirmed after it was sent), so with heartbeats longer than the lag it is
 * the renewal before the latest, as it always was; with shorter ones, the
 * renewals of the last `lagMs` before the latest are those a failover may
 * lose, and the fence counts from the one before them.
 *
 * Before any renewal is that old, it counts from the first one sent: a write
 * that timed out may have been committed all the same, and every renewal
 * confirmed later was sent later. A write that timed out later moves
 * nothing: the fence waits for a confirmation. Only a write the server
 * refused (an error it answered, so nothing was written) takes the fence
 * down again, if nothing was confirmed before.
 *
 * Everything runs on the monotonic clock (clock.ts), which does not step
 * with the wall clock, and timers, which do not either.
 */
export class Fence {
  /** When the window counts from; undefined while no renewal may have been written. */
  private anchor: number | undefined;
  /** When the latest confirmed renewal was sent. */
  private latest: number | undefined;
  /** Confirmed renewals newer than the anchor, oldest first: each becomes the anchor once it is `lagMs` older than the latest. */
  private pending: Confirmed[] = [];
  private timer: NodeJS.Timeout | undefined;
  private done = false;

  constructor(
    private readonly windowMs: number,
    /** The replication lag a failover may lose (config/rescue.ts, REPLICATION_LAG_MS). */
    private readonly lagMs: number,
    /** Called once, when the window has passed: stop the worker; `silentMs` since the renewal it counted from. */
    private readonly expire: (silentMs: number) => void,
  ) {}

  /** A renewal is about to be sent: its start, to hand to confirmed(). Arms the fence with the first. */
  sending(): number {
    const sentAt = now();
    if (this.anchor === undefined && !this.done) {
      this.anchor = sentAt;
      this.arm();
    }
    return sentAt;
  }

  /** The database confirmed the renewal sent at `sentAt`. */
  confirmed(sentAt: number): void {
    if (this.done) return;
    const confirmedAt = now();
    // A confirmation of a renewal older than the latest: the keepers send one
    // at a time, so none comes; ignoring a confirmation only ever leaves the
    // fence counting from an older renewal.
    if (this.latest !== undefined && sentAt <= this.latest) return;
    this.latest = sentAt;
    this.anchor ??= sentAt;
    while (this.pending.length > 0 && this.pending[0]!.confirmedAt <= sentAt - this.lagMs)
      this.anchor = this.pending.shift()!.sentAt;
    if (this.pending.length >= MAX_PENDING) this.pending.pop();
    this.pending.push({ sentAt, confirmedAt });
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
    this.pending = [];
    clearTimeout(this.timer);
  }

  private arm(): void {
    clearTimeout(this.timer);
    if (this.anchor === undefined) return;
    const left = this.anchor + this.windowMs - now();
    if (left <= 0) return this.fire();
    this.timer = setTimeout(() => this.arm(), Math.min(left, MAX_TIMER_MS)).unref();
  }

  private fire(): void {
    const silentMs = Math.round(now() - (this.anchor ?? now()));
    this.stop();
    this.expire(silentMs);
  }
}
