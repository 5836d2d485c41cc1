import { setTimeout as sleep } from "node:timers/promises";
import type { QueueConfig } from "../config/config.js";
import { safeMessage } from "../db/redact.js";
import { now } from "../clock.js";
import { attemptLimit } from "../db/retry.js";
import { DeadLimit } from "../lease/prune-history.js";
import { RedisLease } from "../lease/redis-lease.js";
import type { Logger } from "../log.js";
import type { Released } from "../queues/adapter.js";
import { loadRedisAdapter } from "../queues/index.js";
import { RedisConnection } from "../redis/connection.js";
import { describeRedis } from "../redis/options.js";
import type { ReleasePort } from "../supervise/release-port.js";

const MAX_LISTED = 100;
// How often the pid history is bounded while no lease prunes it.
const LIMIT_HISTORY_EVERY_MS = 10_000;
// Opening the release's connection ahead of the release: a new TLS connection and a PING.
const WARM_MS = 5000;
// Dropping the lease is a courtesy (a stale one is swept): it must not keep jobguard up in an outage.
const LEASE_DROP_MS = 2000;

/**
 * What jobguard does around a kill for a queue in Redis (Sidekiq, RQ): once
 * the tree is gone, put back the jobs that the worker's dead processes had
 * in flight, from what the worker itself keeps in Redis (the queue's
 * adapter), on a connection of its own, each attempt with its own time limit.
 */
export async function createRedisRelease(
  queue: QueueConfig,
  env: NodeJS.ProcessEnv,
  log: Logger,
): Promise<ReleasePort> {
  const adapter = await loadRedisAdapter(queue, env);
  const redis = new RedisConnection(queue.databaseUrl);
  const safe = (error: unknown) => safeMessage(error, queue.databaseUrl);
  let limiting: NodeJS.Timeout | undefined;
  // The lease has a connection of its own, so that a slow sweep never stands before the release.
  const lease = queue.rescue
    ? new RedisLease(new RedisConnection(queue.databaseUrl), adapter, queue.rescue, log, env.DYNO)
    : undefined;

  return {
    childEnv: {},
    // A crash counts toward max-rescues, a restart never (rule 8).
    countsCrashes: true,

    start(history, stop) {
      const limit = new DeadLimit(history);
      limiting = setInterval(() => limit.prune(), LIMIT_HISTORY_EVERY_MS).unref();
      lease?.start(history, stop);
    },

    prepare() {
      clearInterval(limiting);
      lease?.stopSweeping();
      redis
        .use(WARM_MS, (r) => r.call("PING"))
        .catch((error: unknown) => log.debug("connect_failed", { error: safe(error) }));
    },

    async release(dead, { counted, precautionary }, untilMs) {
      clearInterval(limiting);
      lease?.stopSweeping();
      const started = now();
      const worker = { host: adapter.host, dead };
      const counting = counted && queue.rescue ? { maxRescues: queue.rescue.maxRescues } : undefined;
      let error: unknown = new Error("no time left");
      let attempts = 0;
      while (now() < untilMs) {
        attempts++;
        try {
          const released = await redis.use(attemptLimit(untilMs - now()), (r) =>
            adapter.release(r, worker, counting),
          );
          report(
            released,
            dead.map((d) => d.pid),
            started,
            attempts,
            precautionary,
          );
          return "released";
        } catch (caught) {
          error = caught;
          log.debug("release_retry", { attempt: attempts, error: safe(caught) });
          await sleep(Math.min(100 * attempts, Math.max(0, untilMs - now())));
        }
      }
      log.error("release_failed", `could not put the worker's jobs back: ${safe(error)}`, {
        queue: queue.kind,
        redis: describeRedis(queue.databaseUrl),
        attempts,
      });
      return "failed";
    },

    async finish(timeoutMs) {
      await lease?.drop(Math.min(timeoutMs, LEASE_DROP_MS));
      redis.close();
      lease?.close();
    },
  };

  function report(released: Released, pids: number[], started: number, attempts: number, quiet: boolean) {
    const { count, ids, failed } = released;
    const fields = {
      queue: queue.kind,
      jobs: count,
      ids: listed(ids),
      rescue_counted: failed ? true : undefined,
      failed: failed?.length ? listed(failed) : undefined,
      pids: listed(pids),
      ms: Math.round(now() - started),
      attempts: attempts > 1 ? attempts : undefined,
    };
    // After a clean exit, a release that finds nothing is the usual case, not an event.
    if (quiet && count === 0 && !failed?.length) log.debug("jobs_requeued", fields);
    else log.info("jobs_requeued", fields);
  }
}

/** A list for a log line, cut short: a release may concern thousands. */
function listed(items: ReadonlyArray<string | number>): string {
  return items.slice(0, MAX_LISTED).join(",") + (items.length > MAX_LISTED ? ",..." : "");
}
