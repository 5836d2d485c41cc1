/** The timing of one shutdown: when it began, when the deadline fires, when jobguard must be gone. */
export class ShutdownClock {
  startedAt: number | undefined;
  /** True once the deadline has fired. */
  expired = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly deadlineMs: number,
    private readonly graceMs: number,
    private readonly onDeadline: () => void,
  ) {}

  /** Starts the deadline; later calls change nothing. Returns true on the first call. */
  start(): boolean {
    if (this.startedAt !== undefined) return false;
    this.startedAt = Date.now();
    this.timer = setTimeout(() => {
      this.expired = true;
      this.onDeadline();
    }, this.deadlineMs);
    return true;
  }

  /** Stops a deadline that no longer has anything to kill. */
  cancel(): void {
    clearTimeout(this.timer);
  }

  /**
   * When jobguard must have exited (a Date.now() value): half a second before the
   * platform's SIGKILL, or halfway through a shorter cleanup window, so that the
   * platform's own clock, started a moment before ours, never catches jobguard.
   */
  get exitBy(): number {
    const margin = Math.min(500, (this.graceMs - this.deadlineMs) / 2);
    return (this.startedAt ?? Date.now()) + this.graceMs - margin;
  }

  /** Milliseconds since the shutdown began, if it has. */
  elapsed(): number | undefined {
    return this.startedAt === undefined ? undefined : Date.now() - this.startedAt;
  }
}
