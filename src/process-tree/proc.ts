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

/** A /proc file's bytes, valid until the next read; throws as readFileSync does (ENOENT, ESRCH) when the process is gone. */
function readProcBytes(path: string): Buffer {
  const fd = openSync(path, "r");
  try {
    let buffer = shared;
    let length = 0;
    for (;;) {
      const read = readSync(fd, buffer, length, buffer.length - length, null);
      if (read === 0) return buffer.subarray(0, length);
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

/** A /proc file's whole text. */
function readProcFile(path: string): string {
  return readProcBytes(path).toString("latin1");
}

/**
 * What jobguard cannot do here, or undefined when /proc is there. Without a
 * readable /proc (macOS, a container without procfs) it can start the worker
 * but never find its tree: it kills the worker's process group alone, sees no
 * leftovers, and releases nothing.
 */
export function procUnavailable(): string | undefined {
  try {
    readProcFile(`${PROC}/self/stat`);
    readProcFile(`${PROC}/self/environ`);
    uptimeSeconds();
    return undefined;
  } catch {
    return `there is no readable ${PROC} (Linux procfs), where jobguard finds and records the worker tree, and no lock is released without that record`;
  }
}

/** Seconds since boot (/proc/uptime): a clock that does not step, and one a shell can read too. */
export function uptimeSeconds(): number {
  return Number(readProcFile(`${PROC}/uptime`).split(" ")[0]);
}

/** Parses /proc/<pid>/stat; undefined when the process is gone. */
export function readProcess(pid: number): ProcessInfo | undefined {
  let stat: Buffer;
  try {
    stat = readProcBytes(`${PROC}/${pid}/stat`);
  } catch {
    return undefined;
  }
  // The command name sits in parentheses and may itself contain spaces and
  // parentheses, so the fields start after the last ')': the state (one
  // letter), then numbers, of which the ppid (1), the pgid (2) and the start
  // time (19) are read from the bytes, with no string for each of the 50.
  const start = stat.lastIndexOf(0x29) + 2;
  const info = { pid, state: String.fromCharCode(stat[start]!), ppid: 0, pgid: 0, startTime: 0 };
  let field = 1;
  let value = 0;
  for (let i = start + 2; i < stat.length && field <= 19; i++) {
    const byte = stat[i]!;
    if (byte !== 0x20 && byte !== 0x0a) {
      value = value * 10 + byte - 0x30; // a digit, but in fields not read (nice may be negative)
      continue;
    }
    if (field === 1) info.ppid = value;
    else if (field === 2) info.pgid = value;
    else if (field === 19) info.startTime = value;
    field++;
    value = 0;
  }
  return info;
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
    last = Number(readProcFile(`${PROC}/sys/kernel/ns_last_pid`));
  } catch {
    return pids;
  }
  return [...pids.filter((pid) => pid <= last), ...pids.filter((pid) => pid > last)];
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
 * True when the process's environment reads as empty although it may run: it
 * is in the middle of an exec (between the old memory and the new one's
 * environment), when nobody can tell whose it is. False when it reads, or
 * cannot be read at all (gone, or another user's).
 */
export function environmentEmpty(pid: number): boolean {
  try {
    return readProcFile(`${PROC}/${pid}/environ`) === "";
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
  bootTimeMs ??= Number(/^btime (\d+)$/m.exec(readProcFile(`${PROC}/stat`))![1]) * 1000;
  return bootTimeMs + (info.startTime * 1000) / TICKS_PER_SECOND;
}
