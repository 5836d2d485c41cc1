import { OPTIONS } from "./usage.js";

// The flags and variables come from config/usage.ts, the table --help and the
// README print; the help text itself is there too.
export { usage } from "./usage.js";

/** The settings jobguard knows. */
export type OptionKey =
  | "deadline"
  | "grace"
  | "forward"
  | "logLevel"
  | "queue"
  | "databaseUrl"
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

const SUBCOMMANDS = ["check", "rescue"] as const;

/**
 * Reads flags (`--name value` or `--name=value`) up to `--` or the first word
 * that is not an option; the environment fills what the flags leave unset.
 * An empty environment variable counts as unset, as most shells and platforms treat it.
 * `check` and `rescue` take the same flags after them as before them; a word
 * after them is a mistake, since a worker command comes after `--` (or first).
 */
export function parseArgs(argv: readonly string[], env: NodeJS.ProcessEnv): ParsedArgs {
  const values: ParsedArgs["values"] = {};
  for (const spec of OPTIONS) {
    const value = env[spec.env];
    if (value !== undefined && value !== "") values[spec.key] = { value, source: spec.env };
  }
  const fromFlags: ParsedArgs["values"] = {};
  const first = readFlags(argv, 0, fromFlags);
  if (first.stop) return { values, action: first.stop, command: [] };
  let rest = argv.slice(first.next);
  const subcommand = !first.separated && SUBCOMMANDS.find((name) => name === rest[0]);
  if (subcommand) {
    const after = readFlags(argv, first.next + 1, fromFlags);
    if (after.stop) return { values, action: after.stop, command: [] };
    rest = argv.slice(after.next);
    if (after.separated || rest.length > 0) {
      throw new UsageError(
        `jobguard ${subcommand} takes options only, not ${JSON.stringify(after.separated ? "--" : rest[0])} (a worker command named ${subcommand} goes after --: jobguard -- ${subcommand})`,
      );
    }
    Object.assign(values, fromFlags);
    return { values, action: subcommand, command: [] };
  }
  Object.assign(values, fromFlags);
  if (rest.length === 0) throw new UsageError("no worker command given");
  return { values, action: "run", command: rest };
}

/**
 * Reads flags from argv[start] into `into` (a later one wins), up to `--`
 * or the first word that is not an option: `next` is the index after them.
 * Stops at -h or -V, which win over everything else.
 */
function readFlags(
  argv: readonly string[],
  start: number,
  into: ParsedArgs["values"],
): { next: number; separated: boolean; stop?: "help" | "version" } {
  let i = start;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") return { next: i + 1, separated: true };
    if (arg === "-h" || arg === "--help") return { next: i, separated: false, stop: "help" };
    if (arg === "-V" || arg === "--version") return { next: i, separated: false, stop: "version" };
    if (!arg.startsWith("-")) break;
    const eq = arg.indexOf("=");
    const name = eq === -1 ? arg : arg.slice(0, eq);
    const spec = OPTIONS.find((o) => o.flag === name);
    if (!spec) throw new UsageError(`unknown option ${name}`);
    const value: string | undefined = eq === -1 ? argv[++i] : arg.slice(eq + 1);
    if (value === undefined || (eq === -1 && value === "--")) throw new UsageError(`${name} needs a value`);
    into[spec.key] = { value, source: name };
  }
  return { next: i, separated: false };
}
