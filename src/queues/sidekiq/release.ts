import type { RedisCommands } from "../../redis/connection.js";
import type { DeadWorker, Released } from "../adapter.js";
import { RESCUE_COUNT_PREFIX, RESCUE_COUNT_TTL_S, type RedisCounting } from "../redis-adapter.js";
import { sidekiqProcesses, type SidekiqProcess } from "./processes.js";

// Puts the jobs of one dead process back, in one script, so that Redis runs
// it whole or not at all, and a second jobguard (a sweep) that gets there too
// finds nothing left: a job moves only while its field in the work hash is
// still the one read. It goes back to the right end of its queue, which
// Sidekiq's BRPOP takes next, as Sidekiq's own requeue (UnitOfWork#requeue)
// does; past max-rescues, to the dead set instead, where Sidekiq puts the jobs
// it gives up on (DeadSet#kill). Then the process is deregistered, as its own
// clear_heartbeat would have: out of `processes`, its keys gone, and marked as
// swept for sidekiq/rescue.ts, so that a lease's copy is not put back again.
//
// KEYS: the work hash, the process key. ARGV: identity, counted (1/0), max
// rescues, now (s), the counts' time to live, then per job: tid, raw, queue,
// payload, dead payload, jid. Returns per job moved: jid, "queued" or "dead".
const RELEASE_PROCESS = `
local out = {}
for i = 6, #ARGV, 6 do
  local tid, raw, queue, payload, dead, jid = ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3], ARGV[i+4], ARGV[i+5]
  if redis.call('HGET', KEYS[1], tid) == raw then
    redis.call('HDEL', KEYS[1], tid)
    local rescues = 0
    if ARGV[2] == '1' then
      local key = '${RESCUE_COUNT_PREFIX}' .. jid
      rescues = redis.call('INCR', key)
      redis.call('EXPIRE', key, ARGV[5])
    end
    if rescues > tonumber(ARGV[3]) then
      redis.call('ZADD', 'dead', ARGV[4], dead)
      table.insert(out, jid)
      table.insert(out, 'dead')
    else
      redis.call('SADD', 'queues', queue)
      redis.call('RPUSH', 'queue:' .. queue, payload)
      table.insert(out, jid)
      table.insert(out, 'queued')
    end
  end
end
redis.call('SREM', 'processes', ARGV[1])
redis.call('UNLINK', KEYS[1], KEYS[2])
-- A lease's copy of this work hash must not put the jobs back a second time.
redis.call('SET', 'jobguard:swept:' .. ARGV[1], '1', 'EX', 86400)
return out
`;

/** The registered processes of this host whose pid is one of the tree's dead ones, and that are that process. */
export function deadProcesses(processes: SidekiqProcess[], worker: DeadWorker): SidekiqProcess[] {
  return processes.filter((p) => {
    if (p.hostname !== worker.host) return false;
    const dead = worker.dead.find((d) => d.pid === p.pid);
    if (!dead) return false;
    // A pid a newer process took: only a registration older than that process is the dead one's.
    return (
      dead.reusedSince === undefined || (p.startedAtMs !== undefined && p.startedAtMs < dead.reusedSince)
    );
  });
}

/** Puts back the jobs in flight of the tree's dead Sidekiq processes, and deregisters them. */
export async function releaseSidekiq(
  redis: RedisCommands,
  worker: DeadWorker,
  counting: RedisCounting | undefined,
): Promise<Released> {
  const result: Released = { count: 0, ids: [], failed: counting ? [] : undefined };
  for (const p of deadProcesses(await sidekiqProcesses(redis), worker)) {
    await releaseProcess(redis, p, counting, result);
  }
  return result;
}

/** One dead process's jobs, back in their queues (or in the dead set), the process deregistered. */
export async function releaseProcess(
  redis: RedisCommands,
  p: SidekiqProcess,
  counting: RedisCounting | undefined,
  into: Released,
): Promise<void> {
  const now = Date.now() / 1000;
  const args = p.work.flatMap((job) => [
    job.tid,
    job.raw,
    job.queue,
    job.payload,
    deadEntry(job.payload, now, counting),
    job.jid,
  ]);
  const moved = (await redis.call(
    "EVAL",
    RELEASE_PROCESS,
    2,
    p.workKey,
    p.identity,
    p.identity,
    counting ? 1 : 0,
    counting?.maxRescues ?? 0,
    now,
    RESCUE_COUNT_TTL_S,
    ...args,
  )) as string[];
  for (let i = 0; i + 1 < moved.length; i += 2) {
    if (moved[i + 1] === "dead") into.failed?.push(moved[i]!);
    else into.ids.push(moved[i]!);
  }
  into.count = into.ids.length;
}

/** The job as the dead set holds it, with an error that names jobguard, as Sidekiq's retry writes its own. */
export function deadEntry(payload: string, now: number, counting: RedisCounting | undefined): string {
  if (!counting) return "";
  const job = JSON.parse(payload) as Record<string, unknown>;
  return JSON.stringify({
    ...job,
    error_class: "Jobguard::RescueLimitExceeded",
    error_message: `jobguard: the job's worker died under it more than ${counting.maxRescues} times (JOBGUARD_MAX_RESCUES); not retried`,
    failed_at: now,
  });
}
