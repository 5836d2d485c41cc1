import { setTimeout as sleep } from "node:timers/promises";
import { now } from "../clock.js";
import { endedWithoutCrash, EXIT, type ExitStatus } from "./exit.js";

/** The two periods a shutdown runs by. */
export interface ShutdownTiming {
  /** From the shutdown's beginning until the whole tree is killed. */
  deadlineMs: number;
  /** The platform's, from its SIGTERM to its SIGKILL; longer than the deadline. */
  graceMs: number;
}

/** How the shutdown began. */
export interface Begun {
  /**
   * A platform signal (`SIGTERM`, `SIGINT`), jobguard's own reason to stop the
   * worker (`internal_error`, or the release port's), or `leftovers`: the
   * worker exited while processes it started live on.
   */
  reason: string;
  /** When, on the monotonic clock (clock.ts). */
  at: number;
  /** Whether jobguard passed a signal on to the worker then. */
  forwarded: boolean;
}

/**
 * Where the shutdown is: `running` (none yet); `stopping` (it has begun, and
 * the deadline runs); `killing` (the deadline has fired: the tree is being
 * killed); `done` (jobguard is done with the tree: it is gone, or survivors
 * are given up on, or it never started).
 */
export type ShutdownState =
  | { phase: "running" }
  | { phase: "stopping" | "killing"; begun: Begun }
  | { phase: "done"; begun: Begun | undefined };

/** What a part of jobguard wants to hear about a shutdown; each is called at most once. */
export interface ShutdownListener {
  /** The shutdown has begun, by a request to stop or on leftovers. */
  begun?(begun: Begun): void;
  /** A request to stop reached the worker's side while there was a tree: it must hear no other. */
  requested?(): void;
  /** jobguard is done with the tree: nothing left to stop, kill or watch. */
  done?(): void;
  /** At exit-by after an internal error, whatever the main path is doing: right before jobguard exits. */
  lastResort?(): void;
}

// How long after the worker's death a SIGTERM to jobguard still means both came from one shutdown.
const SHUTDOWN_SIGNAL_SPREAD_MS = 1000;

/**
 * The one owner of a shutdown: whether and how it began, whether a request to
 * stop has reached the worker (rule 2), the deadline, when jobguard must have
 * exited (rule 5), and the last resort after an internal error (rule 10). The
 * relay, the escalation, the watchdog and the release port read it or
 * subscribe to it and keep no state of the shutdown of their own.
 */
export class Shutdown {
  // (Declared before `deadline`, whose executor replaces it.)
  private expire: () => void = () => {};
  /** Resolves when the deadline fires: the tree is then to be killed. */
  readonly deadline = new Promise<void>((resolve) => (this.expire = resolve));
  private current: ShutdownState = { phase: "running" };
  private requestedAt: number | undefined;
  private hasFailed = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly listeners: ShutdownListener[] = [];

  constructor(readonly timing: ShutdownTiming) {}

  get state(): ShutdownState {
    return this.current;
  }

  /** True once a request to stop (a platform signal, or jobguard's own stop) has reached the worker's side. */
  get requested(): boolean {
    return this.requestedAt !== undefined;
  }

  /** True after an internal error: jobguard then exits 125 (JOBGUARD_FAILED), whatever else happens. */
  get failed(): boolean {
    return this.hasFailed;
  }

  /** When the deadline fires (on the monotonic clock), once the shutdown has begun. */
  get deadlineAt(): number | undefined {
    const begun = this.current.phase === "running" ? undefined : this.current.begun;
    return begun && begun.at + this.timing.deadlineMs;
  }

  /**
   * When jobguard must have exited (on the monotonic clock): half a second before the
   * platform's SIGKILL, or halfway through a shorter cleanup window, so that the
   * platform's own clock, started a moment before ours, never catches jobguard.
   * Before any shutdown, counted from now.
   */
  get exitBy(): number {
    const { deadlineMs, graceMs } = this.timing;
    const margin = Math.min(500, (graceMs - deadlineMs) / 2);
    return (this.startedAt ?? now()) + graceMs - margin;
  }

  /** Milliseconds since the shutdown began, if it has. */
  elapsed(): number | undefined {
    const startedAt = this.startedAt;
    return startedAt === undefined ? undefined : Math.round(now() - startedAt);
  }

  subscribe(listener: ShutdownListener): void {
    this.listeners.push(listener);
  }

  /**
   * A request to stop has reached the worker's side: a platform signal, or
   * jobguard's own stop (through the relay, which decides what the worker
   * hears). The first one begins the shutdown unless leftovers began it; later
   * ones change nothing. Once jobguard is done with the tree, only its time
   * counts: for exit-by, and for telling a crash from a restart.
   */
  request(reason: string, forwarded: boolean): void {
    if (this.requestedAt !== undefined) return;
    this.requestedAt = now();
    if (this.current.phase === "done") return;
    this.begin({ reason, at: this.requestedAt, forwarded });
    for (const listener of this.listeners) listener.requested?.();
  }

  /**
   * The worker has exited while processes it started live on: that begins a
   * shutdown of its own, without a request to stop (the worker is gone; its
   * leftovers get one SIGTERM each, and the deadline). True when this began it.
   */
  beginOnLeftovers(): boolean {
    return this.begin({ reason: "leftovers", at: now(), forwarded: false });
  }

  /** jobguard is done with the tree: the deadline no longer has anything to kill. Later calls change nothing. */
  done(): void {
    if (this.current.phase === "done") return;
    const begun = this.current.phase === "running" ? undefined : this.current.begun;
    this.current = { phase: "done", begun };
    clearTimeout(this.timer);
    for (const listener of this.listeners) listener.done?.();
  }

  /**
   * An internal error (rule 10): jobguard exits 125. The first call arms the
   * last resort: at exit-by, whether or not the main path ever comes back, the
   * `lastResort` listeners run (they kill what is left of the tree) and
   * jobguard exits. Stopping the worker is the relay's (rule 2).
   */
  fail(): void {
    if (this.hasFailed) return;
    this.hasFailed = true;
    setTimeout(() => this.lastResort(), Math.max(0, this.exitBy - now()));
  }

  /** Never settles: for a broken main path that can only wait for the last resort, armed by fail(), to end jobguard. */
  untilLastResort(): Promise<never> {
    return new Promise<never>(() => {});
  }

  /**
   * Whether the worker crashed on its own (the OOM killer, a segfault, an
   * uncaught error) rather than being asked to stop (rule 8). A worker ended
   * by SIGTERM or SIGINT was asked; and on Heroku Cedar, which signals every
   * process of the dyno, the worker may hear the SIGTERM and exit a moment
   * before jobguard does: a request that comes within a second after still
   * counts. Waiting for it must not eat the release's time where leftovers
   * began the shutdown.
   */
  async crashedOnItsOwn(status: ExitStatus): Promise<boolean> {
    if (this.requested || endedWithoutCrash(status)) return false;
    await sleep(Math.min(SHUTDOWN_SIGNAL_SPREAD_MS, (this.exitBy - now()) / 4));
    return !this.requested;
  }

  /** When the shutdown's clock started: at its beginning, or at a request that came after the tree was done. */
  private get startedAt(): number | undefined {
    return this.current.phase === "running" ? undefined : (this.current.begun?.at ?? this.requestedAt);
  }

  private begin(begun: Begun): boolean {
    if (this.current.phase !== "running") return false;
    this.current = { phase: "stopping", begun };
    this.timer = setTimeout(() => {
      this.current = { phase: "killing", begun };
      this.expire();
    }, this.timing.deadlineMs);
    for (const listener of this.listeners) listener.begun?.(begun);
    return true;
  }

  private lastResort(): never {
    try {
      for (const listener of this.listeners) listener.lastResort?.();
    } finally {
      process.exit(EXIT.JOBGUARD_FAILED);
    }
  }
}
