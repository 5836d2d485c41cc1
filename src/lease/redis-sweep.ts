import type { RedisQueueAdapter, Swept } from "../queues/redis-adapter.js";
import type { RedisCommands } from "../redis/connection.js";
import { DROP_LEASE, LEASES_KEY, RENEWED_KEY, type RedisLeaseRecord } from "./redis-lease-keys.js";

// Every lease's age, on Redis's clock.
const AGES = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
local renewed = redis.call('HGETALL', KEYS[1])
for i = 1, #renewed, 2 do
  table.insert(out, renewed[i])
  table.insert(out, tostring(now - tonumber(renewed[i + 1])))
end
return out
`;

/** One stale lease's sweep. */
export interface LeaseSwept extends Swept {
  lease: string;
  host: string;
}

/**
 * Sweeps the leases that are stale by their own stale-after, on Redis's
 * clock, but `mine`: where the worker's own heartbeat is gone too (the
 * adapter's proof), their jobs go back, counted, and the lease goes; where
 * the worker still beats, nothing is taken and the lease stays. Safe to run
 * on every dyno at once: the adapters move each job once.
 */
export async function sweepRedisLeases(
  redis: RedisCommands,
  adapter: RedisQueueAdapter,
  maxRescues: number,
  mine?: string,
): Promise<LeaseSwept[]> {
  const ages = (await redis.call("EVAL", AGES, 1, RENEWED_KEY)) as string[];
  const swept: LeaseSwept[] = [];
  for (let i = 0; i + 1 < ages.length; i += 2) {
    const id = ages[i]!;
    if (id === mine) continue;
    const raw = (await redis.call("HGET", LEASES_KEY, id)) as string | null;
    const lease = raw ? (JSON.parse(raw) as RedisLeaseRecord) : undefined;
    if (lease && Number(ages[i + 1]) <= lease.stale_after_ms) continue;
    const result = lease
      ? await adapter.rescue.sweep(redis, lease.registrations, { maxRescues })
      : { released: { count: 0, ids: [] }, alive: false };
    if (!result.alive) await redis.call("EVAL", DROP_LEASE, 2, LEASES_KEY, RENEWED_KEY, id);
    swept.push({ ...result, lease: id, host: lease?.host ?? "?" });
  }
  return swept;
}
