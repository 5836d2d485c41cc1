import type { RedisQueueDescriptor } from "../descriptor.js";

export const rq: RedisQueueDescriptor = {
  kind: "rq",
  store: "redis",
  leases: true,
  settings: [],
  describe: "RQ 1.x: the jobs its StartedJobRegistries hold under the dead worker's name",
  load: async () => {
    const { hostname } = await import("node:os");
    return (await import("./index.js")).rq(hostname());
  },
};
