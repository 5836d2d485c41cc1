import type { RedisCommands } from "../../redis/connection.js";

// What RQ (1.x, rq/worker.py, registry.py) keeps in Redis of its workers: the
// set rq:workers of worker keys "rq:worker:<name>", each a hash with hostname,
// pid (the worker's own, not its work horse's), birth, last_heartbeat, queues
// (a comma list) and current_job; a job in progress is in its queue's
// StartedJobRegistry, the sorted set rq:wip:<queue>, from before it starts
// (Worker.prepare_job_execution) until it ends, and its hash rq:job:<id>
// names the worker (worker_name). The registry is written when the job
// starts, so it is exact: what it lists under a dead worker's name is what
// that worker had in flight.

/** One RQ worker registered in Redis, with its jobs in flight. */
export interface RqWorker {
  key: string;
  name: string;
  hostname: string;
  pid: number;
  /** When the worker registered (Date.now() terms). */
  birthMs?: number;
  lastHeartbeatMs?: number;
  queues: string[];
  /** Its jobs in a StartedJobRegistry: [job id, queue]. */
  jobs: Array<{ id: string; queue: string }>;
}

const WORKER_PREFIX = "rq:worker:";

/** Every worker in rq:workers, with the jobs the StartedJobRegistries hold under its name. */
export async function rqWorkers(redis: RedisCommands): Promise<RqWorker[]> {
  const keys = ((await redis.call("SMEMBERS", "rq:workers")) as string[]).sort();
  const workers: RqWorker[] = [];
  for (const key of keys) {
    if (!key.startsWith(WORKER_PREFIX)) continue;
    const [hostname, pid, birth, beat, queues, current] = (await redis.call(
      "HMGET",
      key,
      "hostname",
      "pid",
      "birth",
      "last_heartbeat",
      "queues",
      "current_job",
    )) as Array<string | null>;
    if (!hostname || !pid) continue;
    const name = key.slice(WORKER_PREFIX.length);
    const names = queues ? queues.split(",").filter(Boolean) : [];
    const jobs: RqWorker["jobs"] = [];
    for (const queue of names) {
      for (const id of (await redis.call("ZRANGE", `rq:wip:${queue}`, 0, -1)) as string[]) {
        const owner = (await redis.call("HGET", `rq:job:${id}`, "worker_name")) as string | null;
        if (owner === name || id === current) jobs.push({ id, queue });
      }
    }
    workers.push({
      key,
      name,
      hostname,
      pid: Number(pid),
      birthMs: rqTime(birth),
      lastHeartbeatMs: rqTime(beat),
      queues: names,
      jobs,
    });
  }
  return workers;
}

/** RQ's utcformat ("2026-12-03T16:00:00.123456Z") in Date.now() terms. */
export function rqTime(text: string | null | undefined): number | undefined {
  if (!text) return undefined;
  const ms = Date.parse(text.replace(/(\.\d{3})\d*/, "$1"));
  return Number.isNaN(ms) ? undefined : ms;
}
