import type { QueueConfig } from "../config/config.js";
import type { QueueAdapter } from "./adapter.js";
import { queueOf } from "./descriptors.js";

/**
 * The adapter of the configured queue (queues/descriptors.ts lists them). It
 * is loaded only when its queue is configured, and with it pg.
 */
export function loadAdapter(queue: QueueConfig): Promise<QueueAdapter> {
  // config/queue.ts accepts only the kinds of queues/descriptors.ts.
  return queueOf(queue.kind)!.load(queue);
}
