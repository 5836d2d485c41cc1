import type { RescueConfig } from "../config/config.js";
import type { Logger } from "../log.js";
import type { KeptConnection } from "../db/kept-connection.js";
import { safeMessage } from "../db/redact.js";
import type { RescueSupport } from "../queues/adapter.js";
import type { LeaseTables } from "./schema.js";
import { sweep, type SweepResult } from "./sweep.js";

/**
 * This jobguard's share of the fleet's sweeps for dead dynos, on a connection
 * of their own: a sweep may take seconds on a large table, and the lease's
 * renewals must never wait behind one (a renewal late enough would stop the
 * worker). The connection is closed after each sweep.
 */
export class Sweeper {
  private timer: NodeJS.Timeout | undefined;
  private sweeping = false;

  constructor(
    private readonly database: KeptConnection,
    private readonly tables: LeaseTables,
    private readonly ready: (client: Parameters<typeof sweep>[0]) => Promise<void>,
    private readonly queue: RescueSupport,
    private readonly config: RescueConfig,
    private readonly url: string,
    private readonly log: Logger,
  ) {}

  /** Sweeps every quarter of stale-after (at least every heartbeat), jittered so that a fleet booted together does not sweep in lockstep. */
  start(): void {
    this.sweeping = true;
    const every = Math.max(this.config.heartbeatMs, this.config.staleAfterMs / 4);
    const next = () => {
      if (this.sweeping)
        this.timer = setTimeout(
          () => void this.sweepOnce().finally(next),
          every * (0.8 + Math.random() * 0.4),
        ).unref();
    };
    next();
  }

  /** A shutdown has begun: this dyno has other things to do than judge the others. */
  stop(): void {
    this.sweeping = false;
    clearTimeout(this.timer);
    this.database.close();
  }

  private async sweepOnce(): Promise<void> {
    let result: SweepResult;
    try {
      result = await this.database.use(this.limitMs, async (client) => {
        await this.ready(client);
        return sweep(client, this.queue, this.tables, this.config);
      });
    } catch (error) {
      this.log.debug("sweep_failed", { error: safeMessage(error, this.url) });
      return;
    }
    logSweep(this.log, result);
  }

  // A sweep may take seconds without the recommended index (about 2 s a dead
  // lease on a million jobs); past half of stale-after it is on a connection
  // gone silent, and the next sweep, on a new one, does better.
  private get limitMs(): number {
    return Math.max(2_000, this.config.staleAfterMs / 2);
  }
}

/** One line for a sweep that found anything, at info; nothing for an idle one but at debug. */
function logSweep(log: Logger, result: SweepResult): void {
  const found =
    result.released.length +
    result.failed.length +
    result.leases.length +
    result.alive.length +
    result.overruled.length +
    result.waiting.length +
    result.expired.length;
  log[found ? "info" : "debug"]("swept", {
    swept: result.swept,
    skipped: result.skipped,
    released: result.released.join(","),
    failed: result.failed.join(","),
    leases: result.leases.length,
    alive: result.alive.join(","),
    overruled: result.overruled.join(","),
    waiting: result.waiting.join(","),
    expired: result.expired.join(","),
  });
}
