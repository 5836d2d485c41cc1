import type { QueueDescriptor } from "../descriptor.js";

export const sql: QueueDescriptor = {
  kind: "sql",
  store: "postgresql",
  leases: false,
  settings: [{ key: "releaseSql", required: "the release statement" }],
  describe: "your own queue: JOBGUARD_RELEASE_SQL, run with the dead worker's host, pids and worker names",
  // config/queue.ts refuses the sql queue without its statement.
  load: async (queue) => (await import("./index.js")).customSql(queue.settings.releaseSql!),
};
