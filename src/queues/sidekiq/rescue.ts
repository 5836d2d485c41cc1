import type { Released } from "../adapter.js";
import {
  RESCUE_COUNT_PREFIX,
  RESCUE_COUNT_TTL_S,
  type RedisRescue,
  type Registrations,
  type Swept,
} from "../redis-adapter.js";
import { sidekiqProcesses, type InFlight } from "./processes.js";
import { deadEntry } from "./release.js";

/** A Sidekiq process of the tree as the lease keeps it: its identity, and its jobs as of its last heartbeat. */
interface Kept {
  identity: string;
  work: InFlight[];
}

// Puts the jobs a stale lease kept of one dead process back, counted, in one
// script: only while the process key is gone (Sidekiq's own heartbeat stopped:
// the key expires 60 s after the last beat) and its work hash too, and only
// once: the script drops the process from the lease's copy in Redis as it
// goes, and a job already back in its queue is not pushed again.
//
// KEYS: the process key, its 6.4 and 7 work hashes, the mark that it was
// swept (kept a day, the longest a lease could wait for its sweep). ARGV: max rescues, now
// (s), the counts' time to live, then per job: queue, payload, dead payload,
// jid. Returns nil when the process still beats, else per job: jid, "queued"
// or "dead".
const SWEEP_PROCESS = `
if redis.call('EXISTS', KEYS[1], KEYS[2], KEYS[3]) > 0 then return nil end
if redis.call('SET', KEYS[4], '1', 'NX', 'EX', 86400) == false then return {} end
local out = {}
for i = 4, #ARGV, 4 do
  local queue, payload, dead, jid = ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3]
  local key = '${RESCUE_COUNT_PREFIX}' .. jid
  local rescues = redis.call('INCR', key)
  redis.call('EXPIRE', key, ARGV[3])
  if rescues > tonumber(ARGV[1]) then
    redis.call('ZADD', 'dead', ARGV[2], dead)
    table.insert(out, jid)
    table.insert(out, 'dead')
  else
    redis.call('SADD', 'queues', queue)
    redis.call('RPUSH', 'queue:' .. queue, payload)
    table.insert(out, jid)
    table.insert(out, 'queued')
  end
end
redis.call('SREM', 'processes', KEYS[1])
return out
`;

/** Sidekiq's part of leases and sweeps. */
export function sidekiqRescue(host: string): RedisRescue {
  return {
    async snapshot(redis, pids) {
      const processes = await sidekiqProcesses(redis);
      return processes
        .filter((p) => p.hostname === host && pids.includes(p.pid))
        .map((p): Kept => ({ identity: p.identity, work: p.work }));
    },

    async sweep(redis, registrations: Registrations, counting): Promise<Swept> {
      const released: Released = { count: 0, ids: [], failed: [] };
      let alive = false;
      for (const kept of registrations as Kept[]) {
        const now = Date.now() / 1000;
        const moved = (await redis.call(
          "EVAL",
          SWEEP_PROCESS,
          4,
          kept.identity,
          `${kept.identity}:workers`,
          `${kept.identity}:work`,
          `jobguard:swept:${kept.identity}`,
          counting.maxRescues,
          now,
          RESCUE_COUNT_TTL_S,
          ...kept.work.flatMap((j) => [j.queue, j.payload, deadEntry(j.payload, now, counting), j.jid]),
        )) as string[] | null;
        if (moved === null) {
          alive = true;
          continue;
        }
        for (let i = 0; i + 1 < moved.length; i += 2) {
          if (moved[i + 1] === "dead") released.failed!.push(moved[i]!);
          else released.ids.push(moved[i]!);
        }
      }
      released.count = released.ids.length;
      return { released, alive };
    },
  };
}
