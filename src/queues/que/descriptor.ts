import type { QueueDescriptor } from "../descriptor.js";

export const que: QueueDescriptor = {
  kind: "que",
  store: "postgresql",
  table: { key: "table", default: "que_lockers", names: "Que's lockers table" },
  leases: false,
  settings: [],
  describe: "Que 2.x: advisory locks of the locker's session, found through que_lockers",
  // config/queue.ts sets the table of every queue with a table setting.
  load: async (queue) => (await import("./index.js")).que(queue.table!),
};
