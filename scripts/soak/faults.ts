import { setTimeout as sleep } from "node:timers/promises";
import type { Dyno } from "./dyno.js";
import type { OwnPostgres } from "./postgres.js";
import { dynoProcesses, killAll } from "./procs.js";
import type { Random } from "./random.js";

// The faults the soak injects, one at a time, at random: what a platform, the
// kernel and a database's maintenance do to a fleet of workers.

export const FAULTS = ["restart", "crash", "oom", "kill-jobguard", "sever", "db-restart"] as const;
export type Fault = (typeof FAULTS)[number];

/** What each fault is, for the report. */
export const FAULT_NAMES: Record<Fault, string> = {
  restart: "platform restarts (SIGTERM to the dyno, SIGKILL after the grace)",
  crash: "whole-dyno crashes (SIGKILL to every process at once)",
  oom: "OOM kills of the worker alone",
  "kill-jobguard": "SIGKILLs of jobguard alone",
  sever: "severed sessions (pg_terminate_backend of all)",
  "db-restart": "database restarts",
};

/** A fault injected, and on what: a dyno's boot (its tag) or the database, for the soak's faults.log. */
export interface Injected {
  fault: Fault;
  on: string;
}

/**
 * Injects one fault, chosen at random among those that have a target: a dyno
 * fault needs a dyno whose generation has not taken one yet. Returns what it
 * did, or undefined when nothing could be injected.
 */
export async function injectFault(
  random: Random,
  dynos: Dyno[],
  db: OwnPostgres,
): Promise<Injected | undefined> {
  const targets = dynos.filter((d) => d.target());
  const kinds = FAULTS.filter((f) => targets.length > 0 || f === "sever" || f === "db-restart");
  const fault = random.pick(kinds);
  if (fault === "sever") {
    return { fault, on: `the database: ${await db.terminateSessions()} session(s)` };
  }
  if (fault === "db-restart") {
    const [mode, downMs] = [
      random.chance(0.5) ? "fast" : "immediate",
      Math.round(random.between(500, 2500)),
    ] as const;
    await db.restart(mode, downMs);
    return { fault, on: `the database: ${mode} stop, down ${downMs} ms` };
  }
  const dyno = random.pick(targets);
  const gen = dyno.target()!;
  const processes = dynoProcesses(gen.tag);
  switch (fault) {
    case "restart":
      // Not awaited: the next fault may land elsewhere during this dyno's grace.
      void dyno.platformStop(gen);
      break;
    case "crash":
      gen.faulted = true;
      killAll(processes.map((p) => p.pid));
      await sleep(50);
      killAll(dynoProcesses(gen.tag).map((p) => p.pid)); // anything forked in between
      break;
    case "oom": {
      const worker = processes.find((p) => p.command.startsWith("ruby "));
      if (!worker) return undefined; // still booting: no worker to kill yet
      gen.faulted = true;
      killAll([worker.pid]);
      break;
    }
    case "kill-jobguard":
      gen.faulted = true;
      killAll([gen.pid]);
      break;
  }
  return { fault, on: `${gen.tag} (jobguard ${gen.pid})` };
}
