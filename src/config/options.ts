import type { TableOption } from "../queues/descriptor.js";
import { QUEUES } from "../queues/descriptors.js";

/** One setting, readable from a flag and from the environment. */
export interface OptionSpec {
  key: OptionKey;
  flag: string;
  env: string;
  valueName: string;
  describe: string;
}

/** The settings jobguard knows. */
export type OptionKey =
  | "deadline"
  | "grace"
  | "forward"
  | "logLevel"
  | "queue"
  | "databaseUrl"
  | "redisUrl"
  | "table"
  | "tablePrefix"
  | "releaseSql"
  | "heartbeat"
  | "staleAfter"
  | "maxRescues"
  | "leaseTable"
  | "connection"
  // The worker's last step before the kill (config/escalation.ts).
  | "worker"
  | "escalate"
  | "escalateBefore";

// The help of the settings only some queues read comes from the queues' descriptors.

/** "a, b or c". */
function orList(items: readonly string[]): string {
  return items.length > 1 ? `${items.slice(0, -1).join(", ")} or ${items[items.length - 1]}` : items.join("");
}

/** The queues that name a table with this setting, each with its default. */
function tableHelp(key: TableOption["key"]): string {
  const tables = QUEUES.flatMap(({ table }) =>
    table?.key === key ? [`${table.names} (default ${table.default})`] : [],
  );
  return `${tables.join(" or ")}, schema-qualified allowed`;
}

/** The queues that read this setting of their own, as --queue values. */
function readersOf(key: OptionKey): string {
  const readers = QUEUES.filter((q) => q.settings.some((s) => s.key === key));
  return readers.map((q) => `--queue ${q.kind}`).join(" or ");
}

/** Every setting; the usage text and the README's configuration table follow this order. */
const OPTIONS: readonly OptionSpec[] = [
  {
    key: "deadline",
    flag: "--deadline",
    env: "JOBGUARD_DEADLINE",
    valueName: "SECONDS",
    describe:
      "from the first SIGTERM/SIGINT until the worker tree is killed (default: the grace less a quarter of it, at least 1 s and at most 5 s; 25)",
  },
  {
    key: "grace",
    flag: "--grace",
    env: "JOBGUARD_GRACE",
    valueName: "SECONDS",
    describe: "the platform's SIGKILL grace period; the deadline follows it (default 30)",
  },
  {
    key: "forward",
    flag: "--forward",
    env: "JOBGUARD_FORWARD",
    valueName: "MODE",
    describe: "forward SIGTERM to the worker: auto, always or never (default auto)",
  },
  {
    key: "logLevel",
    flag: "--log-level",
    env: "JOBGUARD_LOG_LEVEL",
    valueName: "LEVEL",
    describe: "silent, info or debug (default info)",
  },
  {
    key: "queue",
    flag: "--queue",
    env: "JOBGUARD_QUEUE",
    valueName: "KIND",
    describe: `release the killed worker's claims: ${orList(QUEUES.map((q) => q.kind))} (default: none)`,
  },
  {
    key: "databaseUrl",
    flag: "--database-url",
    env: "JOBGUARD_DATABASE_URL",
    valueName: "URL",
    describe: "PostgreSQL URL (default $DATABASE_URL)",
  },
  {
    key: "redisUrl",
    flag: "--redis-url",
    env: "JOBGUARD_REDIS_URL",
    valueName: "URL",
    describe: `Redis URL of ${QUEUES.filter((q) => q.store === "redis")
      .map((q) => q.kind)
      .join(" and ")}; rediss:// for TLS (default $REDIS_URL)`,
  },
  {
    key: "table",
    flag: "--table",
    env: "JOBGUARD_TABLE",
    valueName: "NAME",
    describe: tableHelp("table"),
  },
  {
    key: "tablePrefix",
    flag: "--table-prefix",
    env: "JOBGUARD_TABLE_PREFIX",
    valueName: "PREFIX",
    describe: tableHelp("tablePrefix"),
  },
  {
    key: "releaseSql",
    flag: "--release-sql",
    env: "JOBGUARD_RELEASE_SQL",
    valueName: "SQL",
    describe: `the release statement for ${readersOf("releaseSql")} ($1 host, $2 pids, $3 worker names)`,
  },
  {
    key: "heartbeat",
    flag: "--heartbeat",
    env: "JOBGUARD_HEARTBEAT",
    valueName: "SECONDS",
    describe: `how often the worker's lease is renewed (${QUEUES.filter((q) => q.leases)
      .map((q) => q.kind)
      .join(", ")}; default 10)`,
  },
  {
    key: "staleAfter",
    flag: "--stale-after",
    env: "JOBGUARD_STALE_AFTER",
    valueName: "SECONDS",
    describe: "a lease this old belongs to a dead dyno and is rescued (default 60)",
  },
  {
    key: "maxRescues",
    flag: "--max-rescues",
    env: "JOBGUARD_MAX_RESCUES",
    valueName: "N",
    describe: "rescues of one job before it is marked failed (default 3)",
  },
  {
    key: "leaseTable",
    flag: "--lease-table",
    env: "JOBGUARD_LEASE_TABLE",
    valueName: "NAME",
    describe: "jobguard's own lease table, schema-qualified allowed (default jobguard_leases)",
  },
  {
    key: "connection",
    flag: "--connection",
    env: "JOBGUARD_CONNECTION",
    valueName: "MODE",
    describe:
      "the lease's connection: per-heartbeat (opened for each heartbeat and sweep) or keep (default per-heartbeat)",
  },
  // The worker's last step before the kill (config/escalation.ts).
  {
    key: "worker",
    flag: "--worker",
    env: "JOBGUARD_WORKER",
    valueName: "NAME",
    describe: "presets for sidekiq, graphile-worker, rq or celery (default: none)",
  },
  {
    key: "escalate",
    flag: "--escalate",
    env: "JOBGUARD_ESCALATE",
    valueName: "SIGNAL",
    describe: "signal sent to the worker before the deadline, or none (default: the preset's)",
  },
  {
    key: "escalateBefore",
    flag: "--escalate-before",
    env: "JOBGUARD_ESCALATE_BEFORE",
    valueName: "SECONDS",
    describe: "how long before the deadline (default 5, at most half the deadline)",
  },
];

/** The environment variable of a setting. */
export function optionEnv(key: OptionKey): string {
  return OPTIONS.find((o) => o.key === key)!.env;
}

/** A raw setting and where it came from, so that an error can name its source. */
export interface RawValue {
  value: string;
  source: string;
}

/** What the command line asked for before any value is checked. */
export interface ParsedArgs {
  values: Partial<Record<OptionKey, RawValue>>;
  action: "run" | "check" | "rescue" | "help" | "version";
  command: string[];
}

/** A bad invocation: one sentence naming the variable or flag, then a pointer to --help; exit status 2. */
export class UsageError extends Error {}

const SUBCOMMANDS = new Set(["check", "rescue"]);

/**
 * Reads flags (`--name value` or `--name=value`) up to `--` or the first word
 * that is not an option; the environment fills what the flags leave unset.
 * An empty environment variable counts as unset, as most shells and platforms treat it.
 */
export function parseArgs(argv: readonly string[], env: NodeJS.ProcessEnv): ParsedArgs {
  const values: ParsedArgs["values"] = {};
  for (const spec of OPTIONS) {
    const value = env[spec.env];
    if (value !== undefined && value !== "") values[spec.key] = { value, source: spec.env };
  }
  const fromFlags: ParsedArgs["values"] = {};
  let i = 0;
  let separated = false;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      separated = true;
      i++;
      break;
    }
    if (arg === "-h" || arg === "--help") return { values, action: "help", command: [] };
    if (arg === "-V" || arg === "--version") return { values, action: "version", command: [] };
    if (!arg.startsWith("-")) break;
    const eq = arg.indexOf("=");
    const name = eq === -1 ? arg : arg.slice(0, eq);
    const spec = OPTIONS.find((o) => o.flag === name);
    if (!spec) throw new UsageError(`unknown option ${name}`);
    const value: string | undefined = eq === -1 ? argv[++i] : arg.slice(eq + 1);
    if (value === undefined || (eq === -1 && value === "--")) throw new UsageError(`${name} needs a value`);
    fromFlags[spec.key] = { value, source: name };
  }
  Object.assign(values, fromFlags);
  const rest = argv.slice(i);
  if (!separated && rest.length === 1 && SUBCOMMANDS.has(rest[0]!)) {
    return { values, action: rest[0] as "check" | "rescue", command: [] };
  }
  if (rest.length === 0) throw new UsageError("no worker command given");
  return { values, action: "run", command: rest };
}

/** The usage text printed with --help. */
export function usage(): string {
  const width = Math.max(...OPTIONS.map((o) => `${o.flag} ${o.valueName}`.length));
  const lines = OPTIONS.map((o) => `  ${`${o.flag} ${o.valueName}`.padEnd(width)}  ${o.env}: ${o.describe}`);
  const kindWidth = Math.max(...QUEUES.map((q) => q.kind.length));
  return [
    "Usage: jobguard [options] -- <command> [args...]",
    "       jobguard [options] check",
    "       jobguard [options] rescue",
    "",
    "Options (each can be set from the environment variable named after it):",
    ...lines,
    `  ${"-h, --help".padEnd(width)}  show this help`,
    `  ${"-V, --version".padEnd(width)}  show the version`,
    "",
    "Queues (--queue KIND):",
    ...QUEUES.map((q) => `  ${q.kind.padEnd(kindWidth)}  ${q.describe}`),
    "",
  ].join("\n");
}
