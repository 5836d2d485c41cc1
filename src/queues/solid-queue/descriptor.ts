import type { QueueDescriptor } from "../descriptor.js";

export const solidQueue: QueueDescriptor = {
  kind: "solid_queue",
  store: "postgresql",
  table: { key: "tablePrefix", default: "solid_queue_", names: "Solid Queue's table prefix" },
  leases: true,
  settings: [],
  describe: "Solid Queue 1.x: a claim is a row of claimed_executions, by the process's row",
  // config/queue.ts sets the table of every queue with a table setting.
  load: async (queue) => (await import("./index.js")).solidQueue(queue.table!),
};
