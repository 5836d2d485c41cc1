import type { QueueConfig } from "../config/config.js";
import { safeMessage } from "../db/redact.js";
import { RedisConnection, type RedisCommands } from "../redis/connection.js";
import { describeRedis } from "../redis/options.js";

/**
 * Opens a command's connection to the queue's Redis, runs `work` on it within
 * limitMs, and closes it: the Redis counterpart of connection.ts. A failure is
 * one line after `prefix`, with no password or URL in it, and exit status 1.
 */
export async function withRedisCommand(
  queue: QueueConfig,
  limitMs: number,
  prefix: string,
  out: (line: string) => void,
  work: (redis: RedisCommands) => Promise<number>,
): Promise<number> {
  const redis = new RedisConnection(queue.databaseUrl);
  try {
    return await redis.use(limitMs, work);
  } catch (error) {
    out(`${prefix}${describeRedis(queue.databaseUrl)}: ${safeMessage(error, queue.databaseUrl)}`);
    return 1;
  } finally {
    redis.close();
  }
}
