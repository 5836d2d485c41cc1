import type { QueueConfig } from "../config/config.js";
import { sweepRedisLeases } from "../lease/redis-sweep.js";
import { loadRedisAdapter } from "../queues/index.js";
import { printLine } from "./printable.js";
import { withRedisCommand } from "./redis-connection.js";

// One sweep reads every lease and the worker keys they name: a minute is plenty.
const RESCUE_LIMIT_MS = 60_000;

/** `jobguard rescue` for Sidekiq and RQ: one sweep of the stale leases in Redis. */
export async function redisRescue(
  queue: QueueConfig,
  env: NodeJS.ProcessEnv,
  out: (line: string) => void = printLine,
): Promise<number> {
  const adapter = await loadRedisAdapter(queue, env);
  return withRedisCommand(queue, RESCUE_LIMIT_MS, "jobguard rescue: ", out, async (redis) => {
    const swept = await sweepRedisLeases(redis, adapter, queue.rescue!.maxRescues);
    const gone = swept.filter((s) => !s.alive);
    const ids = swept.flatMap((s) => s.released.ids);
    const failed = swept.flatMap((s) => s.released.failed ?? []);
    out(
      `jobguard rescue: ${gone.length} dead lease(s) removed, ${ids.length} job(s) put back, ${failed.length} moved to the failures`,
    );
    if (ids.length) out(`  put back: ${ids.join(",")}`);
    if (failed.length)
      out(`  failed (rescued more than ${queue.rescue!.maxRescues} times): ${failed.join(",")}`);
    const alive = swept.filter((s) => s.alive).map((s) => s.lease);
    if (alive.length) out(`  stale but alive (the worker still beats in Redis): ${alive.join(",")}`);
    return 0;
  });
}
