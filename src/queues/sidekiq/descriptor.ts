import type { RedisQueueDescriptor } from "../descriptor.js";

export const sidekiq: RedisQueueDescriptor = {
  kind: "sidekiq",
  store: "redis",
  leases: true,
  settings: [],
  describe: "Sidekiq 6.4/7 (OSS): the jobs its process's work hash names, as of its last heartbeat",
  load: async (_queue, env) => {
    const { hostname } = await import("node:os");
    // Sidekiq names its processes after $DYNO where it is set (Sidekiq::Component#hostname).
    return (await import("./index.js")).sidekiq(env.DYNO || hostname());
  },
};
