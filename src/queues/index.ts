import type { QueueConfig } from "../config/config.js";
import type { QueueAdapter } from "./adapter.js";

/**
 * The queues jobguard knows, each in a folder of its own. An adapter is
 * loaded only when its queue is configured, and with it pg.
 */
export async function loadAdapter(queue: QueueConfig): Promise<QueueAdapter> {
  switch (queue.kind) {
    case "delayed_job":
      return (await import("./delayed-job/index.js")).delayedJob(queue.table);
    case "solid_queue":
      return (await import("./solid-queue/index.js")).solidQueue(queue.table);
    case "good_job":
      return (await import("./good-job/index.js")).goodJob();
    case "que":
      return (await import("./que/index.js")).que(queue.table);
    case "sql":
      return (await import("./sql/index.js")).customSql(queue.releaseSql!);
  }
}
