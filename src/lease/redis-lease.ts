import { randomBytes } from "node:crypto";
import { readFileSync, readlinkSync } from "node:fs";
import type { RescueConfig } from "../config/config.js";
import type { Logger } from "../log.js";
import type { TreeHistory } from "../process-tree/tree-history.js";
import type { RedisQueueAdapter } from "../queues/redis-adapter.js";
import type { RedisConnection } from "../redis/connection.js";
import { Fence } from "./fence.js";
import { DROP_LEASE, LEASES_KEY, RENEWED_KEY, type RedisLeaseRecord } from "./redis-lease-keys.js";
import { sweepRedisLeases } from "./redis-sweep.js";

// Renews one lease on Redis's clock; returns that time.
const RENEW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], now)
return now
`;

/**
 * The lease of one jobguard in front of a Sidekiq or RQ worker: renewed every
 * heartbeat with what the tree's processes have in flight, and the sweep of
 * the other dynos' stale leases after each renewal. Self-fencing by the
 * Fence every lease has (fence.ts): a lease whose renewal has not been
 * confirmed for the fence (stale-after less the grace and a margin) stops its
 * worker by the normal shutdown, so that the worker is gone before any
 * sweeper may judge the lease stale; an outage of Redis stops the fleet
 * rather than risk a job run twice.
 */
export class RedisLease {
  readonly id = randomBytes(8).toString("hex");
  private timer: NodeJS.Timeout | undefined;
  private readonly fence: Fence;
  private stopWorker: (reason: string) => void = () => {};
  private stopped = false;
  private beating: Promise<void> = Promise.resolve();

  constructor(
    private readonly redis: RedisConnection,
    private readonly adapter: RedisQueueAdapter,
    private readonly config: RescueConfig,
    private readonly log: Logger,
    private readonly dyno: string | undefined,
  ) {
    this.fence = new Fence(config.fenceMs, config.replicationLagMs, (silentMs) => {
      this.stopSweeping();
      log.error(
        "lease_lost",
        `the lease could not be renewed in Redis for ${Math.round(silentMs / 1000)} s: stopping the worker before another dyno may take its jobs`,
        { lease: this.id, fence_s: config.fenceMs / 1000, unconfirmed_ms: silentMs },
      );
      this.stopWorker("lease_lost");
    });
  }

  /** Writes the lease now and then every heartbeat, each followed by a sweep; `stop` is how the fence stops the worker. */
  start(history: TreeHistory, stop: (reason: string) => void): void {
    this.stopWorker = stop;
    const beat = () => {
      if (this.stopped) return;
      const sentAt = this.fence.sending();
      this.beating = this.renew(history)
        .then(() => {
          if (this.stopped) return;
          this.fence.confirmed(sentAt);
          return this.sweep();
        })
        .catch((error: unknown) => this.log.debug("heartbeat_failed", { error: String(error) }))
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(beat, this.config.heartbeatMs).unref();
        });
    };
    beat();
  }

  /** The shutdown has begun, or the tree is gone: no more heartbeats, sweeps or fence. */
  stopSweeping(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.fence.stop();
  }

  /** All is released: the lease goes (a courtesy: a stale one is swept). */
  async drop(limitMs: number): Promise<void> {
    this.stopSweeping();
    await this.beating;
    await this.redis
      .use(limitMs, (r) => r.call("EVAL", DROP_LEASE, 2, LEASES_KEY, RENEWED_KEY, this.id))
      .catch((error: unknown) => this.log.debug("lease_drop_failed", { error: String(error) }));
  }

  /** Ends the lease's connection. */
  close(): void {
    this.redis.close();
  }

  private renew(history: TreeHistory): Promise<void> {
    const pids = history.all();
    return this.redis.use(this.config.heartbeatMs, async (r) => {
      const lease: RedisLeaseRecord = {
        id: this.id,
        host: this.adapter.host,
        dyno: this.dyno,
        pidNamespace: pidNamespace(),
        heartbeat_ms: this.config.heartbeatMs,
        stale_after_ms: this.config.staleAfterMs,
        pids,
        registrations: await this.adapter.rescue.snapshot(r, pids),
      };
      await r.call("EVAL", RENEW, 2, LEASES_KEY, RENEWED_KEY, this.id, JSON.stringify(lease));
    });
  }

  private async sweep(): Promise<void> {
    const result = await this.redis.use(this.config.heartbeatMs * 2, (r) =>
      sweepRedisLeases(r, this.adapter, this.config.maxRescues, this.id),
    );
    for (const swept of result) {
      // A lease whose worker still beats is seen at every sweep until it stops: no news.
      const quiet = swept.alive && swept.released.count === 0 && !swept.released.failed?.length;
      const fields = {
        lease: swept.lease,
        host: swept.host,
        jobs: swept.released.count,
        ids: swept.released.ids.join(","),
        failed: swept.released.failed?.length ? swept.released.failed.join(",") : undefined,
        alive: swept.alive || undefined,
      };
      if (quiet) this.log.debug("swept", fields);
      else this.log.info("swept", fields);
    }
  }
}

/** The pid namespace and boot, which name the pids of a lease apart from another host's or boot's. */
function pidNamespace(): string {
  try {
    const boot = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
    return `${readlinkSync("/proc/self/ns/pid")}@${boot}`;
  } catch {
    return "unknown";
  }
}
