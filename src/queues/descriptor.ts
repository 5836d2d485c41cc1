import type { OptionKey } from "../config/options.js";
import type { QueueConfig } from "../config/queue.js";
import type { QueueAdapter } from "./adapter.js";
import type { RedisQueueAdapter } from "./redis-adapter.js";

// What config/ and commands/ know of a queue: plain data and a loader, no
// effects and no imports but types, so that reading the configuration loads
// no adapter and no pg. Each queue's folder has one (`<name>/descriptor.ts`);
// queues/descriptors.ts lists them.

/**
 * Where a queue keeps its claims, and so which URL jobguard connects to:
 * PostgreSQL (JOBGUARD_DATABASE_URL) or Redis (JOBGUARD_REDIS_URL: Sidekiq, RQ).
 */
export type QueueStore = "postgresql" | "redis";

/** The setting that names a queue's table, and its default. */
export interface TableOption {
  /** `table` names one table; `tablePrefix` the prefix of all of the queue's tables (Solid Queue's). */
  key: "table" | "tablePrefix";
  default: string;
  /** What it names, for the help: "delayed_job's jobs table". */
  names: string;
}

/** A setting that only this queue reads, besides its table. */
export interface QueueSetting {
  key: OptionKey;
  /** Set when the queue cannot work without it: what it holds, for the error ("needs the release statement in ..."). */
  required?: string;
}

/** One queue jobguard knows: its configuration, and how to build its adapter. */
export type QueueDescriptor = PostgresQueueDescriptor | RedisQueueDescriptor;

/** What every queue's descriptor holds. */
interface Descriptor {
  /** Its value of JOBGUARD_QUEUE. */
  kind: string;
  store: QueueStore;
  /** Its table setting; none for a queue whose claims are the sessions themselves (GoodJob) or your own SQL. */
  table?: TableOption;
  /**
   * Its claims outlive the worker's sessions, so leases and sweeps rescue a
   * dead dyno's jobs, and a crash counts toward max-rescues: it reads the lease
   * settings (config/rescue.ts), and its adapter has `rescue`.
   */
  leases: boolean;
  settings: readonly QueueSetting[];
  /** One line for the help. */
  describe: string;
}

/** A queue in PostgreSQL. */
export interface PostgresQueueDescriptor extends Descriptor {
  store: "postgresql";
  /** Builds its adapter, importing it (and with it pg) only now. */
  load(queue: QueueConfig): Promise<QueueAdapter>;
}

/** A queue in Redis. */
export interface RedisQueueDescriptor extends Descriptor {
  store: "redis";
  /** Builds its adapter, importing it only now; `env` for the host name the worker gives itself ($DYNO in Sidekiq). */
  load(queue: QueueConfig, env: NodeJS.ProcessEnv): Promise<RedisQueueAdapter>;
}
