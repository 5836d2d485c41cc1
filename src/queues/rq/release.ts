import { deflateSync } from "node:zlib";
import type { RedisCommands } from "../../redis/connection.js";
import type { DeadWorker, Released } from "../adapter.js";
import { RESCUE_COUNT_PREFIX, RESCUE_COUNT_TTL_S, type RedisCounting } from "../redis-adapter.js";
import { rqWorkers, type RqWorker } from "./workers.js";

// RQ's default failure_ttl (rq/defaults.py, DEFAULT_FAILURE_TTL): a year.
const FAILURE_TTL_S = 365 * 24 * 3600;

// Puts one dead worker's jobs back in one script, which Redis runs whole or
// not at all: a job moves only while its StartedJobRegistry still holds it
// under this worker's name, so a second jobguard (a sweep) finds nothing
// left. It goes to the front of its queue (RQ pops from the left), queued
// again as Queue.enqueue_job leaves it; past max-rescues, to the queue's
// FailedJobRegistry instead, failed with an error naming jobguard, as
// Job._handle_failure leaves it (the exception in the job's hash, which RQ
// reads uncompressed too, and in its results stream, compressed as RQ writes
// it). Then the worker is deregistered, as its own register_death would.
//
// KEYS: the worker's key. ARGV: the worker's name, counted (1/0), max
// rescues, now (RQ's format), now (s), the counts' time to live, the failure's
// text, the same compressed, the failure TTL, its queues (a comma list), then
// per job: id, queue. Returns per job moved: id, "queued" or "failed".
const RELEASE_WORKER = `
local out = {}
for i = 11, #ARGV, 2 do
  local id, queue = ARGV[i], ARGV[i+1]
  local job = 'rq:job:' .. id
  local wip = 'rq:wip:' .. queue
  if redis.call('ZSCORE', wip, id) and redis.call('HGET', job, 'worker_name') == ARGV[1] then
    redis.call('ZREM', wip, id)
    local rescues = 0
    if ARGV[2] == '1' then
      local key = '${RESCUE_COUNT_PREFIX}' .. id
      rescues = redis.call('INCR', key)
      redis.call('EXPIRE', key, ARGV[6])
    end
    if rescues > tonumber(ARGV[3]) then
      local ttl = tonumber(redis.call('HGET', job, 'failure_ttl')) or tonumber(ARGV[9])
      redis.call('HSET', job, 'status', 'failed', 'ended_at', ARGV[4], 'exc_info', ARGV[7])
      redis.call('ZADD', 'rq:failed:' .. queue, tonumber(ARGV[5]) + ttl, id)
      redis.call('XADD', 'rq:results:' .. id, 'MAXLEN', '10', '*', 'type', '2', 'exc_string', ARGV[8])
      redis.call('EXPIRE', 'rq:results:' .. id, ttl)
      redis.call('EXPIRE', job, ttl)
      table.insert(out, id)
      table.insert(out, 'failed')
    else
      redis.call('HSET', job, 'status', 'queued', 'enqueued_at', ARGV[4])
      redis.call('SADD', 'rq:queues', 'rq:queue:' .. queue)
      redis.call('LPUSH', 'rq:queue:' .. queue, id)
      table.insert(out, id)
      table.insert(out, 'queued')
    end
  end
end
redis.call('SREM', 'rq:workers', KEYS[1])
for queue in string.gmatch(ARGV[10], '[^,]+') do
  redis.call('SREM', 'rq:workers:' .. queue, KEYS[1])
end
redis.call('DEL', KEYS[1])
return out
`;

/** The registered workers of this host whose pid is one of the tree's dead ones, and that are that process. */
export function deadWorkers(workers: RqWorker[], worker: DeadWorker): RqWorker[] {
  return workers.filter((w) => {
    if (w.hostname !== worker.host) return false;
    const dead = worker.dead.find((d) => d.pid === w.pid);
    if (!dead) return false;
    return dead.reusedSince === undefined || (w.birthMs !== undefined && w.birthMs < dead.reusedSince);
  });
}

/** Puts back the jobs in flight of the tree's dead RQ workers, and deregisters them. */
export async function releaseRq(
  redis: RedisCommands,
  worker: DeadWorker,
  counting: RedisCounting | undefined,
): Promise<Released> {
  const result: Released = { count: 0, ids: [], failed: counting ? [] : undefined };
  for (const w of deadWorkers(await rqWorkers(redis), worker))
    await releaseWorker(redis, w, counting, result);
  return result;
}

/** One dead worker's jobs, back in their queues (or failed), the worker deregistered. */
export async function releaseWorker(
  redis: RedisCommands,
  w: RqWorker,
  counting: RedisCounting | undefined,
  into: Released,
): Promise<void> {
  const now = new Date();
  const failure = `jobguard: the job's worker died under it more than ${counting?.maxRescues ?? 0} times (JOBGUARD_MAX_RESCUES); not retried`;
  const moved = (await redis.call(
    "EVAL",
    RELEASE_WORKER,
    1,
    w.key,
    w.name,
    counting ? 1 : 0,
    counting?.maxRescues ?? 0,
    // RQ's utcformat: microseconds, and a Z.
    now.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z"),
    Math.floor(now.getTime() / 1000),
    RESCUE_COUNT_TTL_S,
    failure,
    deflateSync(failure).toString("base64"),
    FAILURE_TTL_S,
    w.queues.join(","),
    ...w.jobs.flatMap((j) => [j.id, j.queue]),
  )) as string[];
  for (let i = 0; i + 1 < moved.length; i += 2) {
    if (moved[i + 1] === "failed") into.failed?.push(moved[i]!);
    else into.ids.push(moved[i]!);
  }
  into.count = into.ids.length;
}
