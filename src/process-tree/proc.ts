import { closeSync, openSync, readdirSync, readSync } from "node:fs";

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

// readFileSync sizes its buffer by the file's size, and /proc's files all say
// 0 bytes: it then allocates a fresh buffer of several KiB, outside V8's heap,
// for every file. jobguard reads a /proc/PID/stat per process on the host at
// each heartbeat, so that was megabytes a minute of garbage that the
// process's RSS kept; the reads share one buffer instead (grown for a long
// environ, kept while it stays small).
const KEEP_BYTES = 64 * 1024;
let shared = Buffer.allocUnsafe(4096);

/** A /proc file's whole text; throws as readFileSync does (ENOENT, ESRCH) when the process is gone. */
function readProcFile(path: string): string {
  const fd = openSync(path, "r");
  try {
    let buffer = shared;
    let length = 0;
    for (;;) {
      const read = readSync(fd, buffer, length, buffer.length - length, null);
      if (read === 0) return buffer.toString("latin1", 0, length);
      length += read;
      if (length === buffer.length) {
        const bigger = Buffer.allocUnsafe(buffer.length * 2);
        buffer.copy(bigger, 0, 0, length);
        buffer = bigger;
        if (buffer.length <= KEEP_BYTES) shared = buffer;
      }
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Why jobguard cannot supervise here, or undefined when it can. Without a
 * readable /proc (macOS, a container without procfs) it could start the worker
 * but never find its tree again: no deadline kill, no leftovers, no release.
 */
export function procUnavailable(): string | undefined {
  try {
    readProcFile(`${PROC}/self/stat`);
    readProcFile(`${PROC}/self/environ`);
    uptimeSeconds();
    return undefined;
  } catch {
    return `cannot supervise here: there is no readable ${PROC} (Linux procfs), where jobguard finds the worker tree`;
  }
}

/** Seconds since boot (/proc/uptime): a clock that does not step, and one a shell can read too. */
export function uptimeSeconds(): number {
  return Number(readProcFile(`${PROC}/uptime`).split(" ")[0]);
}

/** Parses /proc/<pid>/stat; undefined when the process is gone. */
export function readProcess(pid: number): ProcessInfo | undefined {
  let stat: string;
  try {
    stat = readProcFile(`${PROC}/${pid}/stat`);
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
    environ = readProcFile(`${PROC}/${pid}/environ`);
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
  bootTimeMs ??= Number(/^btime (\d+)$/m.exec(readProcFile(`${PROC}/stat`))![1]) * 1000;
  return bootTimeMs + (info.startTime * 1000) / TICKS_PER_SECOND;
}
