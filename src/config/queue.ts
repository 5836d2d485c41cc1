import type { QueueDescriptor } from "../queues/descriptor.js";
import { QUEUES, queueOf } from "../queues/descriptors.js";
import { checkDatabaseUrl } from "./database-url.js";
import { optionEnv, UsageError, type OptionKey, type RawValue } from "./options.js";
import { LEASE_SETTINGS, rescueConfig, type RescueConfig } from "./rescue.js";
import { choice, tableName, tablePrefix } from "./values.js";

/** Where and how to release a dead worker's locks. */
export interface QueueConfig {
  /** JOBGUARD_QUEUE: the kind of one of the queues of queues/descriptors.ts. */
  kind: string;
  databaseUrl: string;
  /**
   * What the queue's table setting names, as [schema, name] or [name]:
   * delayed_job's table, Solid Queue's table prefix. Set for every queue with
   * a table setting, and for no other.
   */
  table?: string[];
  /** The values of the queue's own settings (its descriptor's `settings`) that are set. */
  settings: Partial<Record<OptionKey, string>>;
  /** Leases and rescue, for a queue with leases. */
  rescue?: RescueConfig;
}

/** The settings a queue reads besides the database URL and the lease settings. */
function ownSettings(queue: QueueDescriptor): OptionKey[] {
  return [...(queue.table ? [queue.table.key] : []), ...queue.settings.map((s) => s.key)];
}

/** Every setting a queue reads besides the database URL. */
function reads(queue: QueueDescriptor): OptionKey[] {
  return [...ownSettings(queue), ...(queue.leases ? LEASE_SETTINGS : [])];
}

const KINDS = QUEUES.map((q) => q.kind);

// Every setting that only some queues read, once each, in the order they are checked.
const QUEUE_SETTINGS: readonly OptionKey[] = [...new Set(QUEUES.flatMap(ownSettings)), ...LEASE_SETTINGS];

/**
 * Reads JOBGUARD_QUEUE and the settings of that queue, which its descriptor
 * names. A setting the queue does not read stops jobguard, as does any queue
 * setting without a queue: either would silently do nothing.
 */
export function queueConfig(
  raw: Partial<Record<OptionKey, RawValue>>,
  env: NodeJS.ProcessEnv,
  graceMs: number,
): QueueConfig | undefined {
  if (!raw.queue) {
    const stray = ["databaseUrl" as const, ...QUEUE_SETTINGS].find((key) => raw[key]);
    if (stray) throw new UsageError(`${raw[stray]!.source} is set but no queue is (set JOBGUARD_QUEUE)`);
    return undefined;
  }
  // choice() refuses a kind that queues/descriptors.ts does not list.
  const queue = queueOf(choice(raw.queue, KINDS))!;
  // Every queue's store is PostgreSQL so far (queues/descriptor.ts, QueueStore).
  const url: RawValue | undefined =
    raw.databaseUrl ?? (env.DATABASE_URL ? { value: env.DATABASE_URL, source: "DATABASE_URL" } : undefined);
  if (!url)
    throw new UsageError(
      `${raw.queue.source}=${queue.kind} needs a database: set JOBGUARD_DATABASE_URL or DATABASE_URL`,
    );
  checkDatabaseUrl(url, env);
  for (const setting of queue.settings) {
    if (setting.required && !raw[setting.key]) {
      throw new UsageError(
        `${raw.queue.source}=${queue.kind} needs ${setting.required} in ${optionEnv(setting.key)}`,
      );
    }
  }
  const read = reads(queue);
  for (const key of QUEUE_SETTINGS) {
    const value = raw[key];
    if (value && !read.includes(key)) {
      const readers = QUEUES.filter((q) => reads(q).includes(key)).map((q) => `JOBGUARD_QUEUE=${q.kind}`);
      throw new UsageError(`${value.source} is only used with ${readers.join(" or ")}`);
    }
  }
  const table = queue.table;
  return {
    kind: queue.kind,
    databaseUrl: url.value,
    table: table && (table.key === "tablePrefix" ? tablePrefix : tableName)(raw[table.key], table.default),
    settings: Object.fromEntries(
      queue.settings.flatMap((s) => {
        const value = raw[s.key];
        return value ? [[s.key, value.value]] : [];
      }),
    ),
    rescue: queue.leases ? rescueConfig(raw, graceMs) : undefined,
  };
}
