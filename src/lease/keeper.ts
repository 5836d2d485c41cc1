import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { now } from "../clock.js";
import type { RescueConfig } from "../config/config.js";
import type { Logger } from "../log.js";
import type { KeptConnection } from "../db/kept-connection.js";
import { safeMessage } from "../db/redact.js";
import { beforeDeadline, isTransient } from "../db/retry.js";
import type { RescueSupport } from "../queues/adapter.js";
import type { TreeHistory } from "../process-tree/tree-history.js";
import { pidNamespace } from "../process-tree/pid-namespace.js";
import { Fence } from "./fence.js";
import { dropLease, hostShared, insertLease, renewLease, type Lease } from "./lease-sql.js";
import { HistoryPruner } from "./prune-history.js";
import type { LeaseTables } from "./schema.js";

/** How soon a heartbeat is tried again after one failed. */
const RETRY_MS = 1000;

/** What the keeper needs beside the lease's own settings. */
export interface KeeperOptions {
  database: KeptConnection;
  tables: LeaseTables;
  /** Makes sure jobguard's tables exist, once. */
  ready: (client: Parameters<typeof renewLease>[0]) => Promise<void>;
  queue: RescueSupport;
  config: RescueConfig;
  url: string;
  sessionTag: string | undefined;
  dyno: string | undefined;
  log: Logger;
}

/**
 * This jobguard's lease: written at start, renewed every heartbeat, and
 * fenced (fence.ts): when renewals have failed for too long, the worker is
 * stopped, so that no sweeper can release a claim its tree may still run.
 * A short outage costs nothing: renewals resume, and the fence with them.
 */
export class LeaseKeeper {
  readonly id = `lease-${randomBytes(8).toString("hex")}`;
  private readonly fence: Fence;
  private readonly namespace = pidNamespace();
  private heartbeats: NodeJS.Timeout | undefined;
  private running = true;
  /** The database has confirmed a write of the lease: renewals, not inserts, from now on. */
  private written = false;
  private failures = 0;
  /** A write of the lease has been sent: from then on a row may exist. */
  private sent = false;
  /** A write was sent whose outcome jobguard does not know: it may have been committed. */
  private uncertain = false;
  private sharedChecked = false;
  /** The fence has fired: the worker is being stopped. */
  private fenced = false;

  /** Asks the supervisor for a shutdown (ReleasePort.start's handle). */
  private stopWorker: (reason: string) => void = () => {};

  constructor(private readonly options: KeeperOptions) {
    const { config, log } = options;
    this.fence = new Fence(config.fenceMs, config.replicationLagMs, (silentMs) => {
      log.error(
        "lease_lost",
        `no renewal of the lease that the database surely holds for ${Math.round(silentMs / 1000)} s (the fence counts from the newest renewal confirmed ${config.replicationLagMs / 1000} s or more before the latest was sent, which a failover to a standby that far behind still holds): stopping the worker before another dyno may take its jobs`,
        { lease: this.id, fence_s: config.fenceMs / 1000 },
      );
      this.fenced = true;
      this.stopWorker("lease_lost");
    });
  }

  /** Writes the lease now and then every heartbeat; `stopWorker` is how the fence stops the worker. */
  start(history: TreeHistory, stopWorker: (reason: string) => void): void {
    this.stopWorker = stopWorker;
    const pruner = new HistoryPruner(history, this.options.queue);
    // Each heartbeat is scheduled when the previous one has ended: behind a
    // stalled connection, beats must not queue up and fire in a burst, and the
    // renewal before the latest was confirmed a heartbeat before the latest
    // was sent (config/rescue.ts counts on it). After a failure the next comes
    // within a second: the fence counts from a renewal a heartbeat or the
    // replication lag before the latest, so a failed beat leaves little time.
    const { heartbeatMs } = this.options.config;
    const beat = () =>
      void this.beat(history, pruner).finally(() => {
        const wait = this.failures > 0 ? Math.min(heartbeatMs, RETRY_MS) : heartbeatMs;
        if (this.running) this.heartbeats = setTimeout(beat, wait).unref();
      });
    beat();
  }

  /**
   * No more heartbeats: the worker tree is gone. The fence goes down with
   * them, since nothing it could stop is left.
   */
  stop(): void {
    this.running = false;
    clearTimeout(this.heartbeats);
    this.fence.stop();
  }

  /** Whether a live lease of this host name runs in another pid namespace: then this tree's names are not its alone. */
  async shared(client: Parameters<typeof renewLease>[0]): Promise<boolean> {
    return hostShared(client, this.options.tables, hostname(), this.namespace, this.id);
  }

  /**
   * Removes the lease once the tree's locks are released; if that fails, the
   * lease goes stale and is swept. `via` is a connection to use rather than
   * the lease's own (the release's, which has just answered): a heartbeat
   * stuck on the lease's connection must not hold up the exit. (Should that
   * heartbeat still reach the database after the drop, a renewal finds no row
   * and stops nothing, since the keeper is stopped; a first write would leave
   * one, which goes stale and is swept: its processes hold nothing.)
   */
  async drop(timeoutMs: number, via: KeptConnection = this.options.database): Promise<void> {
    this.stop();
    // Nothing sent, nothing to remove, and nothing will be sent now that the
    // keeper is stopped: a worker that ends at once (a crash at boot) does
    // not wait for a connection, or for pg to load.
    if (!this.sent) return;
    const { tables, log, url } = this.options;
    try {
      const work = via.use(timeoutMs, (client) => dropLease(client, tables, this.id));
      await beforeDeadline(work, now() + timeoutMs);
    } catch (error) {
      log.debug("lease_drop_failed", { error: safeMessage(error, url) });
    }
  }

  private lease(history: TreeHistory): Lease {
    const { config, sessionTag, dyno } = this.options;
    return {
      id: this.id,
      host: hostname(),
      pidNamespace: this.namespace,
      dyno,
      pids: history.all(),
      sessionTag,
      heartbeatMs: config.heartbeatMs,
      staleAfterMs: config.staleAfterMs,
    };
  }

  private async beat(history: TreeHistory, pruner: HistoryPruner): Promise<void> {
    const { database, log, url } = this.options;
    try {
      await database.use(this.beatLimitMs, async (client) => {
        await this.renew(client, history);
        if (!this.running) return;
        if (!this.sharedChecked) await this.checkShared(client);
        // After the renewal, so that a slow one (a jobs table without the
        // recommended index, a migration's lock) never delays it; a failed
        // prune must not cost the heartbeat: it tries again next time.
        await pruner
          .prune(client)
          .catch((error: unknown) => log.debug("prune_failed", { error: safeMessage(error, url) }));
      });
      if (this.failures > 0) log.info("heartbeat_resumed", { lease: this.id, failed: this.failures });
      this.failures = 0;
    } catch (error) {
      if (!this.running) return;
      const message = `heartbeat failed, ${this.fenced ? "the worker is being stopped" : "the worker runs on"}: ${safeMessage(error, url)}`;
      // fence_s: how long after the renewal it counts from (fence.ts) the lease stops the worker if renewals keep failing.
      log[this.failures > 0 ? "debug" : "info"]("heartbeat_failed", {
        error: message,
        fence_s: this.options.config.fenceMs / 1000,
      });
      this.failures++;
    }
  }

  /** One write of the lease, confirmed to the fence when the database answers it. */
  private async renew(client: Parameters<typeof renewLease>[0], history: TreeHistory): Promise<void> {
    const { tables, ready } = this.options;
    await ready(client);
    if (!this.running) return;
    const lease = this.lease(history);
    const sentAt = this.fence.sending();
    this.sent = true;
    try {
      if (this.written) {
        // No row: a sweep judged this lease stale and may have handed its
        // claims out, or a failover lost its first write. The fence should
        // have stopped the worker first; if it has not, it must stop now.
        if (!(await renewLease(client, tables, lease))) return this.running ? this.lost() : undefined;
      } else {
        await insertLease(client, tables, lease);
        this.written = true;
      }
    } catch (error) {
      // An answer from the server that is not about the connection: this
      // write did nothing. Only if no earlier one may have done something
      // (a timeout, a connection lost after the INSERT was sent) is there
      // no lease at all, and nothing to fence.
      if (!isTransient(error) && !this.uncertain) this.fence.refused();
      else this.uncertain = true;
      throw error;
    }
    this.fence.confirmed(sentAt);
  }

  /** The lease's row is gone while its tree runs. */
  private lost(): void {
    this.stop();
    this.options.log.error(
      "lease_lost",
      "the lease is gone from the database (a sweep judged it stale, or a failover lost it) while the worker ran: stopping the worker, whose jobs another dyno may take",
      { lease: this.id },
    );
    this.stopWorker("lease_lost");
  }

  /** Once, after the first write: says so when this host name is not this tree's alone (docs/rescue.md). */
  private async checkShared(client: Parameters<typeof renewLease>[0]): Promise<void> {
    this.sharedChecked = true;
    if (!(await this.shared(client))) return;
    this.options.log.info("host_shared", {
      host: hostname(),
      detail:
        "a live jobguard lease of another pid namespace has this host name: its workers may have this tree's pids and lock jobs under the same names, and delayed_job resumes a job locked under its own name, so two such workers can run one job at once; give each container a host name of its own (or each worker a name of its own); until then jobguard leaves this tree's locks to a sweep",
    });
  }

  // A heartbeat, a new connection included, gets a quarter of stale-after,
  // between 2 s (a TLS connection on a busy machine) and 10 s: one that takes
  // longer is on a connection gone silent, and the next beat, on a new
  // connection, does better than waiting on it for the minutes TCP takes.
  private get beatLimitMs(): number {
    return Math.min(10_000, Math.max(2_000, this.options.config.staleAfterMs / 4));
  }
}
