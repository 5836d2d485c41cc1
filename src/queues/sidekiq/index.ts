import type { RedisQueueAdapter } from "../redis-adapter.js";
import { checkSidekiq } from "./check.js";
import { releaseSidekiq } from "./release.js";
import { sidekiqRescue } from "./rescue.js";

/**
 * Sidekiq 6.4 and 7 (OSS): the basic fetch takes a job out of Redis, and only
 * the process's work hash, rewritten at each heartbeat, still names it; a
 * process killed mid-job loses it. jobguard puts back what that hash lists,
 * once the tree is gone (release.ts). `host` is Sidekiq's own: $DYNO, else
 * the host name.
 */
export function sidekiq(host: string): RedisQueueAdapter {
  return {
    host,
    release: (redis, worker, counting) => releaseSidekiq(redis, { ...worker, host }, counting),
    check: (redis, out, checkHost) => checkSidekiq(redis, out, checkHost, host),
    rescue: sidekiqRescue(host),
  };
}
