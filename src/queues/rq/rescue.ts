import type { RedisCommands } from "../../redis/connection.js";
import type { Released } from "../adapter.js";
import type { RedisRescue, Registrations, Swept } from "../redis-adapter.js";
import { releaseWorker } from "./release.js";
import { rqTime, rqWorkers, type RqWorker } from "./workers.js";

/** An RQ worker of the tree as the lease keeps it: its name and queues (its jobs stay in the registries). */
interface Kept {
  key: string;
  name: string;
  hostname: string;
  pid: number;
  queues: string[];
}

// A busy RQ worker beats every job_monitoring_interval (30 s by default,
// Worker.maintain_heartbeats); one silent for twice that is gone. Its hash
// itself may outlive it by 90 s.
const BEAT_GONE_MS = 60_000;

/** RQ's part of leases and sweeps. */
export function rqRescue(host: string): RedisRescue {
  return {
    async snapshot(redis, pids) {
      const workers = await rqWorkers(redis);
      return workers
        .filter((w) => w.hostname === host && pids.includes(w.pid))
        .map((w): Kept => ({ key: w.key, name: w.name, hostname: w.hostname, pid: w.pid, queues: w.queues }));
    },

    async sweep(redis, registrations: Registrations, counting): Promise<Swept> {
      const released: Released = { count: 0, ids: [], failed: [] };
      let alive = false;
      const [seconds, micros] = (await redis.call("TIME")) as [string, string];
      const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
      for (const kept of registrations as Kept[]) {
        const beat = rqTime((await redis.call("HGET", kept.key, "last_heartbeat")) as string | null);
        if (beat !== undefined && now - beat < BEAT_GONE_MS) {
          alive = true;
          continue;
        }
        // The registries are exact: releaseWorker moves only what they still hold under this name.
        const worker: RqWorker = { ...kept, jobs: await jobsOf(redis, kept) };
        await releaseWorker(redis, worker, counting, released);
      }
      return { released, alive };
    },
  };
}

/** The jobs the StartedJobRegistries of the worker's queues hold under its name. */
async function jobsOf(redis: RedisCommands, kept: Kept): Promise<RqWorker["jobs"]> {
  const jobs: RqWorker["jobs"] = [];
  for (const queue of kept.queues) {
    for (const id of (await redis.call("ZRANGE", `rq:wip:${queue}`, 0, -1)) as string[]) {
      if ((await redis.call("HGET", `rq:job:${id}`, "worker_name")) === kept.name) jobs.push({ id, queue });
    }
  }
  return jobs;
}
