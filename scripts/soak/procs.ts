import { readdirSync, readFileSync } from "node:fs";
import { isAlive } from "../../tools/processes.js";

// Which processes belong to which dyno: every process a dyno starts inherits
// SOAK_DYNO from it (jobguard passes its environment on to the worker and the
// watchdog), so the soak finds a dyno's processes even once jobguard is gone
// and they have been reparented.

export const DYNO_VAR = "SOAK_DYNO";

/** A living process of a dyno. */
export interface DynoProcess {
  pid: number;
  /** The value of SOAK_DYNO: `<soak>:<dyno>:<generation>`. */
  tag: string;
  /** Its command line, arguments joined by spaces. */
  command: string;
}

/** Every living process whose SOAK_DYNO starts with `prefix`. */
export function dynoProcesses(prefix: string): DynoProcess[] {
  const wanted = `${DYNO_VAR}=${prefix}`;
  const found: DynoProcess[] = [];
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      const tag = readFileSync(`/proc/${pid}/environ`, "latin1")
        .split("\0")
        .find((v) => v.startsWith(wanted));
      if (!tag || !isAlive(pid)) continue;
      const command = readFileSync(`/proc/${pid}/cmdline`, "latin1").split("\0").join(" ").trim();
      found.push({ pid, tag: tag.slice(DYNO_VAR.length + 1), command });
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

/** SIGKILLs each pid, ignoring those already gone. */
export function killAll(pids: number[], signal: NodeJS.Signals = "SIGKILL"): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone.
    }
  }
}
