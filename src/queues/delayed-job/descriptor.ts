import type { QueueDescriptor } from "../descriptor.js";

export const delayedJob: QueueDescriptor = {
  kind: "delayed_job",
  store: "postgresql",
  table: { key: "table", default: "delayed_jobs", names: "delayed_job's jobs table" },
  leases: true,
  settings: [],
  describe: "delayed_job (Active Record): a lock is the worker's name in locked_by",
  // config/queue.ts sets the table of every queue with a table setting.
  load: async (queue) => (await import("./index.js")).delayedJob(queue.table!),
};
