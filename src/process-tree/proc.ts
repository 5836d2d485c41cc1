import { readdirSync, readFileSync } from "node:fs";

/** One process as /proc describes it. */
export interface ProcessInfo {
  pid: number;
  ppid: number;
  pgid: number;
  state: string;
  /** Clock ticks since boot; with the pid it names a process uniquely, even across pid reuse. */
  startTime: number;
}

// Reading /proc directly, rather than running `ps`, keeps jobguard working in
// slim images that ship no procps.
const PROC = "/proc";

/** Parses /proc/<pid>/stat; undefined when the process is gone. */
export function readProcess(pid: number): ProcessInfo | undefined {
  let stat: string;
  try {
    stat = readFileSync(`${PROC}/${pid}/stat`, "latin1");
  } catch {
    return undefined;
  }
  // The command name sits in parentheses and may itself contain spaces and
  // parentheses, so the fields start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return {
    pid,
    state: fields[0]!,
    ppid: Number(fields[1]),
    pgid: Number(fields[2]),
    startTime: Number(fields[19]),
  };
}

/** Every process this pid namespace shows, skipping those that vanish while read. */
export function listProcesses(): ProcessInfo[] {
  const processes: ProcessInfo[] = [];
  for (const name of readdirSync(PROC)) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const info = readProcess(pid);
    if (info) processes.push(info);
  }
  return processes;
}

/** True when the process's initial environment holds `name=value`; false when unreadable. */
export function environmentHas(pid: number, name: string, value: string): boolean {
  let environ: string;
  try {
    environ = readFileSync(`${PROC}/${pid}/environ`, "latin1");
  } catch {
    return false;
  }
  const prefix = `${name}=`;
  for (const entry of environ.split("\0")) {
    if (entry.startsWith(prefix) && entry.slice(prefix.length).split(",").includes(value)) return true;
  }
  return false;
}

/** True for a process that has exited but not yet been reaped: it runs no code and holds no sockets. */
export function isDead(info: ProcessInfo): boolean {
  return info.state === "Z" || info.state === "X";
}
