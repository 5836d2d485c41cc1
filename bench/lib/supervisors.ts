import { existsSync } from "node:fs";
import { JOBGUARD } from "../../tools/repo.js";
import { fixture, which } from "./common.js";

/** Something a user could put in front of a worker. */
export interface Supervisor {
  id: string;
  label: string;
  /** The command line that runs `command` under this supervisor. */
  argv(command: string[]): string[];
  /** Why it cannot run here, or undefined. */
  missing?: string;
  /** Does it forward SIGUSR1 to the child? */
  relaysUsr1: boolean;
}

/** An unreachable database: jobguard must not connect (or even load pg) before a SIGTERM. */
export const UNREACHABLE_DATABASE_URL = "postgres://bench:bench@127.0.0.1:9/jobguard_bench";

function resolves(pkg: string): boolean {
  try {
    import.meta.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

/**
 * Another build of jobguard to measure beside this one (rows 1, 2 and 8), so
 * that a step's effect is measured in one run: BENCH_BASELINE is its
 * build/src/cli.js, BENCH_BASELINE_LABEL what the tables call it (a commit).
 */
export function baselineBuild(): { cli: string; label: string } | undefined {
  const cli = process.env.BENCH_BASELINE;
  if (!cli) return undefined;
  if (!existsSync(cli)) throw new Error(`BENCH_BASELINE=${cli}: no such file`);
  return { cli, label: process.env.BENCH_BASELINE_LABEL || cli };
}

/** jobguard (the build at `cli`) with delayed_job configured on the unreachable database, around `cmd`. */
function withQueue(node: string, cli: string, cmd: string[]): string[] {
  return [node, cli, "--queue", "delayed_job", "--database-url", UNREACHABLE_DATABASE_URL, "--", ...cmd];
}

/** The baseline every ratio is taken against. */
export const WRAPPER_ID = "wrapper";

/**
 * Every supervisor the rows compare, in table order. Options are passed as flags
 * (the same settings as JOBGUARD_QUEUE/DATABASE_URL), so that every command line
 * is self-contained and can be handed to hyperfine as is.
 */
export function supervisors(): Supervisor[] {
  const node = process.execPath;
  const tini = which("tini");
  const dumbInit = which("dumb-init");
  const list: Supervisor[] = [
    {
      id: WRAPPER_ID,
      label: "minimal Node wrapper",
      argv: (cmd) => [node, fixture("minimal-wrapper"), "--", ...cmd],
      relaysUsr1: false,
    },
    {
      id: "wrapper+execa",
      label: "minimal wrapper + import execa",
      argv: (cmd) => [node, fixture("lib-wrapper"), "execa", "--", ...cmd],
      missing: resolves("execa") ? undefined : "execa is not installed (npm install --save-dev execa@9)",
      relaysUsr1: false,
    },
    {
      id: "wrapper+tree-kill",
      label: "minimal wrapper + import tree-kill",
      argv: (cmd) => [node, fixture("lib-wrapper"), "tree-kill", "--", ...cmd],
      missing: resolves("tree-kill")
        ? undefined
        : "tree-kill is not installed (npm install --save-dev tree-kill)",
      relaysUsr1: false,
    },
    {
      id: "wrapper+pg",
      label: "minimal wrapper + import pg",
      argv: (cmd) => [node, fixture("lib-wrapper"), "pg", "--", ...cmd],
      missing: resolves("pg") ? undefined : "pg is not installed (npm install)",
      relaysUsr1: false,
    },
    {
      id: "jobguard",
      label: "jobguard",
      argv: (cmd) => [node, JOBGUARD, "--", ...cmd],
      missing: existsSync(JOBGUARD) ? undefined : `${JOBGUARD} is missing (run tsc -p .)`,
      relaysUsr1: true,
    },
    {
      id: "jobguard+queue",
      label: "jobguard, queue configured",
      argv: (cmd) => withQueue(node, JOBGUARD, cmd),
      missing: existsSync(JOBGUARD) ? undefined : `${JOBGUARD} is missing (run tsc -p .)`,
      relaysUsr1: true,
    },
    ...baselineSupervisors(node),
    {
      id: "tini",
      label: "tini",
      // -s: register as a child subreaper, as tini must when it is not PID 1 (else it warns).
      argv: (cmd) => [tini ?? "tini", "-s", "--", ...cmd],
      missing: tini ? undefined : "tini is not installed (apt-get install tini)",
      relaysUsr1: true,
    },
    {
      id: "dumb-init",
      label: "dumb-init",
      argv: (cmd) => [dumbInit ?? "dumb-init", "--", ...cmd],
      missing: dumbInit ? undefined : "dumb-init is not installed (apt-get install dumb-init)",
      relaysUsr1: true,
    },
  ];
  return list;
}

/** jobguard as built at the baseline, with a queue configured; its id does not start with "jobguard", so it has no verdict. */
function baselineSupervisors(node: string): Supervisor[] {
  const baseline = baselineBuild();
  if (!baseline) return [];
  return [
    {
      id: "baseline+queue",
      label: `jobguard at ${baseline.label}, queue configured`,
      argv: (cmd) => withQueue(node, baseline.cli, cmd),
      relaysUsr1: true,
    },
  ];
}
