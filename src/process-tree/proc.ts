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

/**
 * What jobguard cannot do here, or undefined when /proc is there. Without a
 * readable /proc (macOS, a container without procfs) it can start the worker
 * but never find its tree: it kills the worker's process group alone, sees no
 * leftovers, and releases nothing.
 */
export function procUnavailable(): string | undefined {
  try {
    readFileSync(`${PROC}/self/stat`, "latin1");
    readFileSync(`${PROC}/self/environ`, "latin1");
    uptimeSeconds();
    return undefined;
  } catch {
    return `there is no readable ${PROC} (Linux procfs), where jobguard finds and records the worker tree, and no lock is released without that record`;
  }
}

/** Seconds since boot (/proc/uptime): a clock that does not step, and one a shell can read too. */
export function uptimeSeconds(): number {
  return Number(readFileSync(`${PROC}/uptime`, "latin1").split(" ")[0]);
}

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

/**
 * Every process this pid namespace shows, skipping those that vanish while
 * read; newest first (newestFirst), each handed to `visit` as soon as it is
 * read. Reading all of /proc takes milliseconds, tens
 * on a busy host: a process that lives for less than that is only seen if it
 * is read first, and acted on at once.
 */
export function listProcesses(visit: (info: ProcessInfo) => void = () => {}): ProcessInfo[] {
  const pids = newestFirst(
    readdirSync(PROC)
      .map(Number)
      .filter((pid) => Number.isInteger(pid)),
  );
  const processes: ProcessInfo[] = [];
  for (const pid of pids) {
    const info = readProcess(pid);
    if (!info) continue;
    visit(info);
    processes.push(info);
  }
  return processes;
}

/**
 * Pids in the order they were handed out, newest first. The kernel hands them
 * out upwards and wraps around at pid_max; the last one it gave
 * (ns_last_pid, read after the listing so that every listed pid is older)
 * says where the newest end is. Without it, the highest first.
 */
function newestFirst(pids: number[]): number[] {
  pids.sort((a, b) => b - a);
  let last: number;
  try {
    last = Number(readFileSync(`${PROC}/sys/kernel/ns_last_pid`, "latin1"));
  } catch {
    return pids;
  }
  return [...pids.filter((pid) => pid <= last), ...pids.filter((pid) => pid > last)];
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

/**
 * True when the process's environment reads as empty although it may run: it
 * is in the middle of an exec (between the old memory and the new one's
 * environment), when nobody can tell whose it is. False when it reads, or
 * cannot be read at all (gone, or another user's).
 */
export function environmentEmpty(pid: number): boolean {
  try {
    return readFileSync(`${PROC}/${pid}/environ`, "latin1") === "";
  } catch {
    return false;
  }
}

/**
 * The process as it is now, if this same process (not a later one with its
 * pid) still runs. A process tearing down after SIGKILL has no environment
 * left to read, but runs until it is a zombie: only this check still sees it.
 */
export function stillRunning(pid: number, startTime: number): ProcessInfo | undefined {
  const now = readProcess(pid);
  return now && !isDead(now) && now.startTime === startTime ? now : undefined;
}

/** True for a process that has exited but not yet been reaped: it runs no code and holds no sockets. */
export function isDead(info: ProcessInfo): boolean {
  return info.state === "Z" || info.state === "X";
}

// Linux reports start times in USER_HZ ticks, 100 a second on every
// architecture Node runs on.
const TICKS_PER_SECOND = 100;
let bootTimeMs: number | undefined;

/** When the process started, in Date.now() terms (to the tick, 10 ms). */
export function startedAtMs(info: ProcessInfo): number {
  bootTimeMs ??= Number(/^btime (\d+)$/m.exec(readFileSync(`${PROC}/stat`, "latin1"))![1]) * 1000;
  return bootTimeMs + (info.startTime * 1000) / TICKS_PER_SECOND;
}
