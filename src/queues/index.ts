import type { QueueConfig } from "../config/config.js";
import type { QueueAdapter } from "./adapter.js";
import { queueOf } from "./descriptors.js";
import type { RedisQueueAdapter } from "./redis-adapter.js";

/**
 * The adapter of the configured queue (queues/descriptors.ts lists them). It
 * is loaded only when its queue is configured, and with it pg.
 */
export function loadAdapter(queue: QueueConfig): Promise<QueueAdapter> {
  // config/queue.ts accepts only the kinds of queues/descriptors.ts.
  const descriptor = queueOf(queue.kind)!;
  if (descriptor.store !== "postgresql") throw new Error(`${queue.kind} keeps its jobs in Redis`);
  return descriptor.load(queue);
}

/** The adapter of the configured queue in Redis, loaded only now, and with it ioredis. */
export function loadRedisAdapter(queue: QueueConfig, env: NodeJS.ProcessEnv): Promise<RedisQueueAdapter> {
  const descriptor = queueOf(queue.kind)!;
  if (descriptor.store !== "redis") throw new Error(`${queue.kind} keeps its jobs in PostgreSQL`);
  return descriptor.load(queue, env);
}
