import { QUEUES } from "../queues/descriptors.js";
import type { OptionKey } from "./options.js";

// The one table of the settings and the commands: the parser reads the flags
// and variables from it, --help prints it, and test/readme-usage.test.ts
// fails when the README's tables differ from markdownTables(). Written in
// Markdown, as the README shows it; the help prints it as plain text.

/** One setting: its flag and variable, and what the README's table says of it. */
export interface OptionSpec {
  key: OptionKey;
  flag: string;
  env: string;
  valueName: string;
  /** The Default column (Markdown). */
  default: string;
  /** The Meaning column (Markdown). */
  meaning: string;
}

const code = (text: string) => `\`${text}\``;

/** "a, b or c". */
function orList(items: readonly string[]): string {
  return items.length > 1 ? `${items.slice(0, -1).join(", ")} or ${items[items.length - 1]}` : items.join("");
}

const LEASED = QUEUES.filter((q) => q.leases)
  .map((q) => q.kind)
  .join(", ");
// The lease settings that name PostgreSQL things: a queue in Redis has none.
const LEASED_IN_POSTGRESQL = QUEUES.filter((q) => q.leases && q.store === "postgresql")
  .map((q) => q.kind)
  .join(", ");
const IN_REDIS = QUEUES.filter((q) => q.store === "redis").map((q) => q.kind);

/** The queues whose table this setting names, and its defaults. */
function tables(key: "table" | "tablePrefix"): { defaults: string; names: string } {
  const queues = QUEUES.filter((q) => q.table?.key === key);
  return {
    defaults: queues.map((q) => code(q.table!.default)).join(", "),
    names: orList(queues.map((q) => q.table!.names)),
  };
}

/** Every setting, in the order of the README's table and of --help. */
export const OPTIONS: readonly OptionSpec[] = [
  {
    key: "deadline",
    flag: "--deadline",
    env: "JOBGUARD_DEADLINE",
    valueName: "SECONDS",
    default: "the grace less its cleanup time: `25`",
    meaning:
      "Seconds from the first SIGTERM or SIGINT until jobguard kills the worker's whole process tree. Unset, it leaves jobguard a quarter of the grace for its cleanup, at least 1 s and at most 5 s (under a 2 s grace, half): grace 30 → 25, 10 → 7.5, 5 → 3.75, 90 → 85.",
  },
  {
    key: "grace",
    flag: "--grace",
    env: "JOBGUARD_GRACE",
    valueName: "SECONDS",
    default: "`30`",
    meaning:
      "The platform's grace period before its SIGKILL (Heroku 30, Docker 10, Kubernetes 30, systemd 90, Fly.io 5; see [Platforms](#platforms)). Setting it alone is enough: the deadline follows. A deadline you set must be shorter.",
  },
  {
    key: "forward",
    flag: "--forward",
    env: "JOBGUARD_FORWARD",
    valueName: "MODE",
    default: "`auto`",
    meaning: "Whether jobguard passes SIGTERM on to the worker: `auto`, `always` or `never` (see below).",
  },
  {
    key: "logLevel",
    flag: "--log-level",
    env: "JOBGUARD_LOG_LEVEL",
    valueName: "LEVEL",
    default: "`info`",
    meaning: "`silent`, `info` or `debug`.",
  },
  {
    key: "queue",
    flag: "--queue",
    env: "JOBGUARD_QUEUE",
    valueName: "KIND",
    default: "unset",
    meaning: `${orList(QUEUES.filter((q) => q.store === "postgresql").map((q) => code(q.kind)))}: release the killed worker's locks; ${orList(IN_REDIS.map(code))}: put a dead worker's jobs back in their queue ([Queues](#queues)). Unset: supervise only, never touch a database.`,
  },
  {
    key: "databaseUrl",
    flag: "--database-url",
    env: "JOBGUARD_DATABASE_URL",
    valueName: "URL",
    default: "`$DATABASE_URL`",
    meaning:
      "The PostgreSQL database of the queue, as libpq reads it: a socket by `?host=/path` or an empty host, the user from `PGUSER` or the process's owner, a password from `PGPASSWORD` or `~/.pgpass`. Prefer the variable: a flag shows in `ps`.",
  },
  {
    key: "redisUrl",
    flag: "--redis-url",
    env: "JOBGUARD_REDIS_URL",
    valueName: "URL",
    default: "`$REDIS_URL`",
    meaning: `${IN_REDIS.join(", ")}: their Redis; \`rediss://\` for TLS, without verifying the certificate (Heroku Redis's is self-signed) unless \`?ssl_cert_reqs=required\` ([docs/sidekiq-rq.md](docs/sidekiq-rq.md#redis-tls-and-the-client)). Prefer the variable: a flag shows in \`ps\`.`,
  },
  {
    key: "table",
    flag: "--table",
    env: "JOBGUARD_TABLE",
    valueName: "NAME",
    default: tables("table").defaults,
    meaning: `${tables("table").names}; \`schema.table\` allowed. The name is used as written (quoted), so match its case.`,
  },
  {
    key: "tablePrefix",
    flag: "--table-prefix",
    env: "JOBGUARD_TABLE_PREFIX",
    valueName: "PREFIX",
    default: tables("tablePrefix").defaults,
    meaning: `${tables("tablePrefix").names}; \`schema.prefix\` allowed.`,
  },
  {
    key: "releaseSql",
    flag: "--release-sql",
    env: "JOBGUARD_RELEASE_SQL",
    valueName: "SQL",
    default: "—",
    meaning:
      "For `sql`: your own release statement, one statement, with `$1` the host, `$2` the dead pids, `$3` the worker names ([docs/custom-sql.md](docs/custom-sql.md)).",
  },
  {
    key: "heartbeat",
    flag: "--heartbeat",
    env: "JOBGUARD_HEARTBEAT",
    valueName: "SECONDS",
    default: "`10`",
    meaning: `${LEASED}: seconds between lease heartbeats.`,
  },
  {
    key: "staleAfter",
    flag: "--stale-after",
    env: "JOBGUARD_STALE_AFTER",
    valueName: "SECONDS",
    default: "`60`, or the grace + 2 × heartbeat + 3 s (+ 2 s with a heartbeat of 2 s or less) if more",
    meaning: `${LEASED}: a lease without a heartbeat for this long belongs to a dead dyno; a jobguard that cannot renew its lease for this long less the grace and a second stops its worker first ([docs/rescue.md](docs/rescue.md)). At least the grace + 2 × heartbeat + 3 s, and 2 s more with a heartbeat of 2 s or less (the replication lag a failover may lose).`,
  },
  {
    key: "maxRescues",
    flag: "--max-rescues",
    env: "JOBGUARD_MAX_RESCUES",
    valueName: "N",
    default: "`3`",
    meaning: `${LEASED}: how often one job may be rescued from dead dynos or crashed workers before it is marked failed (Sidekiq: its dead set; RQ: its FailedJobRegistry).`,
  },
  {
    key: "connection",
    flag: "--connection",
    env: "JOBGUARD_CONNECTION",
    valueName: "MODE",
    default: "`per-heartbeat`",
    meaning: `${LEASED_IN_POSTGRESQL}: \`per-heartbeat\` opens the lease's connection for each heartbeat and sweep; \`keep\` holds it from start to exit. See [docs/database.md](docs/database.md).`,
  },
  {
    key: "leaseTable",
    flag: "--lease-table",
    env: "JOBGUARD_LEASE_TABLE",
    valueName: "NAME",
    default: "`jobguard_leases`",
    meaning: `${LEASED_IN_POSTGRESQL}: jobguard's own lease table; \`schema.table\` allowed.`,
  },
  // The worker's last step before the kill (config/escalation.ts).
  {
    key: "worker",
    flag: "--worker",
    env: "JOBGUARD_WORKER",
    valueName: "NAME",
    default: "unset",
    meaning:
      "`sidekiq`, `graphile-worker`, `rq` or `celery`: fill in the next two settings (and `JOBGUARD_FORWARD`) for that worker, see [docs/workers.md](docs/workers.md). What you set yourself wins.",
  },
  {
    key: "escalate",
    flag: "--escalate",
    env: "JOBGUARD_ESCALATE",
    valueName: "SIGNAL",
    default: "the worker's, or `none`",
    meaning:
      "A signal sent to the worker once, shortly before the deadline, to ask for its own last step (`SIGQUIT`: Celery's cold shutdown). `SIGTERM`, `SIGINT`, `SIGQUIT`, `SIGHUP`, `SIGUSR1`, `SIGUSR2`, `SIGABRT` or `none`.",
  },
  {
    key: "escalateBefore",
    flag: "--escalate-before",
    env: "JOBGUARD_ESCALATE_BEFORE",
    valueName: "SECONDS",
    default: "`5` (`rq`: `8`)",
    meaning:
      "Seconds before the deadline for the escalation and the fail-safe (below); at most half the deadline by default, and shorter than it.",
  },
];

/** The flags that are no setting. */
const SWITCHES = [
  { flags: "`-h`, `--help`", meaning: "The usage." },
  { flags: "`-V`, `--version`", meaning: "The version." },
];

/** The ways to run jobguard. */
const COMMANDS = [
  {
    usage: "jobguard [options] -- <command> [args...]",
    meaning:
      "Runs the worker command under jobguard: forwards the shutdown request once, kills the whole tree at the deadline, releases the locks of a queue.",
  },
  {
    usage: "jobguard [options] check [options]",
    meaning:
      "Checks the configuration and the database: whether a release and a rescue would work (tables, privileges, the lease tables, the release statement), and which jobs are locked by whom. Writes nothing; exit 0 when all is well, 1 when something needs attention.",
  },
  {
    usage: "jobguard [options] rescue [options]",
    meaning: `${LEASED}: one sweep for dead dynos' jobs, for a scheduler or a release phase. Prints what it released; exit 0 unless it failed.`,
  },
];

/** The README's tables of the commands and of the settings, as usage.ts holds them. */
export function markdownTables(): { commands: string; options: string } {
  const commands = [
    "| Command | Does |",
    "|---|---|",
    ...COMMANDS.map((c) => `| ${code(c.usage)} | ${c.meaning} |`),
  ];
  const options = [
    "| Variable | Flag | Default | Meaning |",
    "|---|---|---|---|",
    ...OPTIONS.map((o) => `| ${code(o.env)} | ${code(o.flag)} | ${o.default} | ${o.meaning} |`),
    ...SWITCHES.map((s) => `| | ${s.flags} | | ${s.meaning} |`),
  ];
  return { commands: commands.join("\n"), options: options.join("\n") };
}

/** Markdown as plain text: no backticks, a link as its text and, for a page, its path. */
function plain(markdown: string): string {
  return markdown
    .replace(/\((see )?below\)/g, "(see the README)")
    .replace(/\[([^\]]+)\]\(#[^)]*\)/g, "$1 in the README")
    .replace(/\[([^\]]+)\]\(([^)]+)\)/g, (_, text: string, target: string) =>
      text === target ? text : `${text}, ${target}`,
    )
    .replace(/`/g, "");
}

/** Words of `text` in lines of at most `width` characters after `indent`. */
function wrap(text: string, indent: string, width = 100): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && indent.length + line.length + 1 + word.length > width) {
      lines.push(indent + line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(indent + line);
  return lines;
}

/** The usage text printed with --help: the same tables as the README's. */
export function usage(): string {
  const kindWidth = Math.max(...QUEUES.map((q) => q.kind.length));
  return [
    "Usage:",
    ...COMMANDS.flatMap((c) => [`  ${c.usage}`, ...wrap(plain(c.meaning), "      ")]),
    "",
    "Options (each also read from its environment variable; a flag wins, an empty variable is unset):",
    ...OPTIONS.flatMap((o) => [
      `  ${o.flag} ${o.valueName}  ${o.env}  (default: ${plain(o.default)})`,
      ...wrap(plain(o.meaning), "      "),
    ]),
    ...SWITCHES.flatMap((s) => [`  ${plain(s.flags)}`, ...wrap(plain(s.meaning), "      ")]),
    "",
    "Queues (--queue KIND):",
    ...QUEUES.map((q) => `  ${q.kind.padEnd(kindWidth)}  ${q.describe}`),
    "",
  ].join("\n");
}
