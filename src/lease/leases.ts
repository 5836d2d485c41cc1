import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import type { RescueConfig } from "../config/config.js";
import type { Logger } from "../log.js";
import type { Database } from "../db/connection.js";
import { safeMessage } from "../db/redact.js";
import { beforeDeadline } from "../db/retry.js";
import type { RescueSupport } from "../queues/adapter.js";
import type { TreeHistory } from "../process-tree/tree-history.js";
import { dropLease, heartbeat, sessionEvidence, setSessionTag } from "./lease.js";
import { HistoryPruner } from "./prune-history.js";
import { ensureSchema, leaseTables, type LeaseTables } from "./schema.js";
import { sweep, type SweepResult } from "./sweep.js";

/**
 * This jobguard's lease, renewed every heartbeat, and its share of the fleet's
 * sweeps for dead dynos. Nothing here may stop or kill the worker: a database
 * outage is logged once, and heartbeats resume when it ends.
 */
export class Leases {
  private readonly id = `lease-${randomBytes(8).toString("hex")}`;
  private readonly tables: LeaseTables;
  private heartbeats: NodeJS.Timeout | undefined;
  private sweeps: NodeJS.Timeout | undefined;
  private running = true;
  private sweeping = true;
  private schemaReady = false;
  /** The previous heartbeat failed, or there was none yet: the next one starts reachable_since anew. */
  private failing = true;
  private failures = 0;
  /** The worker's session tag, until its sessions are found not to prove its life. */
  private sessionTag: string | undefined;
  /** The tag as the lease shows it to sweeps: only once a heartbeat has seen the worker's own sessions. */
  private published: string | undefined;

  constructor(
    private readonly database: Database,
    private readonly queue: RescueSupport,
    private readonly config: RescueConfig,
    private readonly url: string,
    sessionTag: string | undefined,
    private readonly dyno: string | undefined,
    private readonly log: Logger,
  ) {
    this.tables = leaseTables(config.leaseTable);
    this.sessionTag = sessionTag;
  }

  /** The tables a counted release writes its rescue counts to. */
  get countsTable(): string {
    return this.tables.rescues;
  }

  /** Writes the lease now and then every heartbeat; sweeps every few heartbeats. */
  start(history: TreeHistory): void {
    const pruner = new HistoryPruner(history, this.queue);
    // Each heartbeat is scheduled when the previous one has ended: behind a
    // stalled connection, beats must not queue up and fire in a burst.
    const beat = () =>
      void this.beat(history, pruner).finally(() => {
        if (this.running) this.heartbeats = setTimeout(beat, this.config.heartbeatMs).unref();
      });
    beat();
    // A fleet that booted together should not sweep in lockstep: jitter each interval.
    const sweepEvery = Math.max(this.config.heartbeatMs, this.config.staleAfterMs / 4);
    const next = () => {
      if (this.sweeping)
        this.sweeps = setTimeout(
          () => void this.sweepOnce().finally(next),
          sweepEvery * (0.8 + Math.random() * 0.4),
        ).unref();
    };
    next();
  }

  /** A shutdown has begun: this dyno has other things to do than judge the others. */
  stopSweeping(): void {
    this.sweeping = false;
    clearTimeout(this.sweeps);
  }

  /** No more heartbeats or sweeps: the worker tree is gone. */
  stop(): void {
    this.stopSweeping();
    this.running = false;
    clearTimeout(this.heartbeats);
  }

  /** Drops the lease's connection: jobguard is done. */
  close(): void {
    this.database.close();
  }

  /** Makes sure jobguard's tables exist (a counted release writes to them). */
  ensureSchema(client: Parameters<typeof ensureSchema>[0]): Promise<void> {
    return this.ready(client);
  }

  /**
   * Removes the lease once the tree's locks are released; if that fails, the
   * lease goes stale and is swept. `via` is a connection to use rather than
   * the lease's own (the release's, which has just answered): a heartbeat
   * stuck on the lease's connection must not hold up the exit. (Should that
   * heartbeat still reach the database after the drop, it writes the lease
   * again; it then goes stale, and a sweep removes it: its processes hold nothing.)
   */
  async drop(timeoutMs: number, via: Database = this.database): Promise<void> {
    this.stop();
    try {
      const work = via.use(timeoutMs, (client) => dropLease(client, this.tables, this.id));
      await beforeDeadline(work, Date.now() + timeoutMs);
    } catch (error) {
      this.log.debug("lease_drop_failed", { error: safeMessage(error, this.url) });
    }
  }

  private async beat(history: TreeHistory, pruner: HistoryPruner): Promise<void> {
    try {
      await this.database.use(this.beatLimitMs, async (client) => {
        await this.ready(client);
        // A failed prune (say, a jobs table not there yet) must not cost the heartbeat: it tries again next time.
        await pruner
          .prune(client)
          .catch((error: unknown) => this.log.debug("prune_failed", { error: safeMessage(error, this.url) }));
        const lease = {
          id: this.id,
          host: hostname(),
          dyno: this.dyno,
          pids: history.all(),
          sessionTag: this.published,
        };
        await heartbeat(client, this.tables, lease, this.failing);
        await this.checkSessionsHeld(client);
      });
      if (this.failures > 0) this.log.info("heartbeat_resumed", { lease: this.id, failed: this.failures });
      this.failing = false;
      this.failures = 0;
    } catch (error) {
      const message = `heartbeat failed, the worker runs on: ${safeMessage(error, this.url)}`;
      (this.failures > 0 ? this.log.debug : this.log.info)("heartbeat_failed", { error: message });
      this.failing = true;
      this.failures++;
    }
  }

  /**
   * The sweep reads "no tagged session" as "the worker is dead" (sweep.ts, 3).
   * That holds only while the worker's sessions are its own connections to
   * PostgreSQL. Through a transaction pooler (PgBouncer), a client's tag shows
   * only while the pooler lends it a server connection, and lingers on server
   * connections that outlive it: its absence proves nothing. So the lease shows
   * the tag only once a heartbeat has seen the worker's sessions, and takes it
   * off for good (sweeps then treat it as unprovable, not dead) when
   * - jobguard's own connection goes through a pooler (the worker most likely
   *   shares its URL: give both a direct one, see docs/database.md);
   * - a tagged session comes from another client address than jobguard's own
   *   (a pooler elsewhere, such as Heroku's on the database's host);
   * - the worker, seen with a session before, shows none while it runs.
   * What none of these can see: a worker through a pooler on its own host
   * while jobguard connects directly, whose tag stays on an idle server
   * connection until after jobguard has died.
   */
  private async checkSessionsHeld(client: Parameters<typeof sessionEvidence>[0]): Promise<void> {
    // Once a shutdown has begun, the worker closing its session is no news.
    if (!this.sessionTag || !this.sweeping) return;
    const seen = await sessionEvidence(client, this.sessionTag);
    const reason = seen.pooled
      ? "jobguard-connects-through-a-pooler"
      : seen.elsewhere > 0
        ? "worker-sessions-from-another-address"
        : seen.sessions === 0 && this.published
          ? "worker-seen-without-a-session"
          : undefined;
    if (reason) {
      if (this.published) await setSessionTag(client, this.tables, this.id, null);
      this.log.info("rescue_unprovable", {
        lease: this.id,
        reason,
        detail:
          "no sweep will release this worker's claims: give jobguard and the worker a direct database URL",
      });
      this.sessionTag = this.published = undefined;
    } else if (seen.sessions > 0 && !this.published) {
      await setSessionTag(client, this.tables, this.id, this.sessionTag);
      this.published = this.sessionTag;
    }
  }

  private async sweepOnce(): Promise<void> {
    // Judging others needs a database that answers: sweep.ts also asks for a
    // witness that has reached it without a break for stale-after.
    if (this.failing) return;
    let result: SweepResult;
    try {
      result = await this.database.use(this.sweepLimitMs, async (client) => {
        await this.ready(client);
        return sweep(client, this.queue, this.tables, this.config);
      });
    } catch (error) {
      this.log.debug("sweep_failed", { error: safeMessage(error, this.url) });
      return;
    }
    logSweep(this.log, result);
  }

  // A heartbeat, a new connection included, gets a quarter of stale-after,
  // between 2 s (a TLS connection on a busy machine) and 10 s: one that takes
  // longer is on a connection gone silent, and the next beat, on a new
  // connection, does better than waiting on it for the minutes TCP takes.
  private get beatLimitMs(): number {
    return Math.min(10_000, Math.max(2_000, this.config.staleAfterMs / 4));
  }

  // A sweep may take seconds without the recommended index (about 2 s a dead
  // lease on a million jobs), but never more than half of stale-after: the
  // heartbeats that wait behind it must keep this lease fresh.
  private get sweepLimitMs(): number {
    return Math.max(this.beatLimitMs, this.config.staleAfterMs / 2);
  }

  private async ready(client: Parameters<typeof ensureSchema>[0]): Promise<void> {
    if (this.schemaReady) return;
    await ensureSchema(client, this.tables);
    this.schemaReady = true;
  }
}

/** One line for a sweep that found anything, at info; nothing for an idle one but at debug. */
function logSweep(log: Logger, result: SweepResult): void {
  const found =
    result.released.length +
    result.failed.length +
    result.leases.length +
    result.alive.length +
    result.unprovable.length;
  (found ? log.info : log.debug)("swept", {
    swept: result.swept,
    skipped: result.skipped,
    released: result.released.join(","),
    failed: result.failed.join(","),
    leases: result.leases.length,
    alive: result.alive.join(","),
    unprovable: result.unprovable.join(","),
  });
}
