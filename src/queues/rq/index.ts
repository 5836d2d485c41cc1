import type { RedisQueueAdapter } from "../redis-adapter.js";
import { checkRq } from "./check.js";
import { releaseRq } from "./release.js";
import { rqRescue } from "./rescue.js";

/**
 * RQ 1.x: a job whose worker dies stays in its StartedJobRegistry until a
 * cleanup fails it (AbandonedJobError). jobguard puts it back in its queue
 * once the tree is gone (release.ts). `host` is RQ's: socket.gethostname().
 */
export function rq(host: string): RedisQueueAdapter {
  return {
    host,
    release: (redis, worker, counting) => releaseRq(redis, { ...worker, host }, counting),
    check: (redis, out, checkHost) => checkRq(redis, out, checkHost),
    rescue: rqRescue(host),
  };
}
