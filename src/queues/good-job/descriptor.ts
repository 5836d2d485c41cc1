import type { QueueDescriptor } from "../descriptor.js";

export const goodJob: QueueDescriptor = {
  kind: "good_job",
  store: "postgresql",
  leases: false,
  settings: [],
  describe: "GoodJob with advisory locks: ending the dead worker's sessions releases them",
  load: async () => (await import("./index.js")).goodJob(),
};
