import { readFileSync } from "node:fs";
import { buildConfig, type Config } from "./config/config.js";
import { parseArgs, usage, UsageError } from "./config/options.js";
import { safeMessage } from "./db/redact.js";
import { createLogger } from "./log.js";
import { procUnavailable } from "./process-tree/proc.js";
import { EXIT } from "./supervise/exit.js";
import { InternalErrors } from "./supervise/internal-errors.js";
import type { SuperviseOptions } from "./supervise/options.js";
import { supervise } from "./supervise/supervise.js";

// Before anything else: no error escapes unhandled. Until the worker is
// spawned, one exits 125 with nothing started; then the supervisor takes over.
// Its line names no database secret: every URL jobguard may have been given is redacted.
const databaseUrls: Array<string | undefined> = [process.env.JOBGUARD_DATABASE_URL, process.env.DATABASE_URL];
const errors = new InternalErrors(createLogger("info"), (text) =>
  databaseUrls.reduce<string>((t, url) => (url ? safeMessage(t, url) : t), text),
);

// The main path reads top to bottom: parse, check, spawn and supervise, exit.
async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  let args, config;
  try {
    args = parseArgs(argv, env);
    databaseUrls.push(args.values.databaseUrl?.value);
    if (args.action === "help") {
      process.stdout.write(usage());
      return EXIT.OK;
    }
    if (args.action === "version") {
      process.stdout.write(`${version()}\n`);
      return EXIT.OK;
    }
    config = buildConfig(args, env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    // The sentence alone: in a platform's log the whole usage would bury it.
    process.stderr.write(`jobguard: ${error.message}\nTry 'jobguard --help' for the options.\n`);
    return EXIT.USAGE;
  }
  if (args.action === "check") return (await import("./commands/check.js")).check(config.queue, env);
  // buildConfig() refuses a rescue without a queue that keeps leases.
  if (args.action === "rescue")
    return (await import("./commands/rescue.js")).rescue(config.queue!, config.queue!.rescue!, env);
  // Without /proc the worker would start but its tree could never be found
  // again: refuse before anything starts.
  const unsupported = procUnavailable();
  if (unsupported) {
    process.stderr.write(`jobguard: ${unsupported}\n`);
    return EXIT.USAGE;
  }
  const log = createLogger(config.logLevel);
  errors.useLogger(log);
  // Only a run with a queue loads the release code and the queue's adapter.
  const release =
    config.queue &&
    (await (await import("./release/release.js")).createRelease(config.queue, config.graceMs, env, log));
  return supervise(args.command, superviseOptions(config), log, errors, release || undefined);
}

/** What the supervisor needs of the configuration, in its own terms. */
function superviseOptions(config: Config): SuperviseOptions {
  const { worker, signal, beforeMs } = config.escalation;
  return {
    deadlineMs: config.deadlineMs,
    graceMs: config.graceMs,
    forward: config.forward,
    forwardSigterm: config.forwardSigterm,
    forwardReason: config.forwardReason,
    escalation: { worker, signal, beforeMs },
    queue: config.queue?.kind,
  };
}

function version(): string {
  const pkg = new URL("../../package.json", import.meta.url);
  return (JSON.parse(readFileSync(pkg, "utf8")) as { version: string }).version;
}

try {
  process.exitCode = await main(process.argv.slice(2), process.env);
} catch (error) {
  // Only an error before the worker was spawned gets here: supervise() handles its own.
  errors.handle(error);
}
// Exit now: a lingering handle (a database socket being torn down) must not
// keep jobguard alive past the platform's grace period.
process.exit();
