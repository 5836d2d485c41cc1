import { delayedJob } from "./delayed-job/descriptor.js";
import type { QueueDescriptor } from "./descriptor.js";
import { goodJob } from "./good-job/descriptor.js";
import { que } from "./que/descriptor.js";
import { rq } from "./rq/descriptor.js";
import { sidekiq } from "./sidekiq/descriptor.js";
import { solidQueue } from "./solid-queue/descriptor.js";
import { sql } from "./sql/descriptor.js";

/**
 * The queues jobguard knows, one folder each, in the order the help and the
 * errors name them. Adding a queue is its folder and a line here.
 */
export const QUEUES: readonly QueueDescriptor[] = [delayedJob, solidQueue, goodJob, que, sql, sidekiq, rq];

/** The queue of this JOBGUARD_QUEUE value, if jobguard knows it. */
export function queueOf(kind: string): QueueDescriptor | undefined {
  return QUEUES.find((queue) => queue.kind === kind);
}
