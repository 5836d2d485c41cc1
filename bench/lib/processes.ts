import { spawn, type ChildProcess, type StdioOptions } from "node:child_process";
import { readFileSync } from "node:fs";
import type { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { descendantsOf } from "../../tools/processes.js";
import { cleanEnv, now } from "./common.js";

// The bench reads process trees with the tests' /proc reader
// (tools/processes.ts), not jobguard's own, for the same reason the tests do:
// a bug in jobguard's cannot hide itself.

/** The command name (/proc/PID/comm) or undefined. */
export function comm(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, "latin1").trim();
  } catch {
    return undefined;
  }
}

/** Rss, Pss and Uss (private pages only) of one process in KiB, from /proc/PID/smaps_rollup. */
export function smapsRollup(pid: number): { rssKb: number; pssKb: number; ussKb: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/smaps_rollup`, "latin1");
  } catch {
    return undefined;
  }
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? NaN);
  return { rssKb: field("Rss"), pssKb: field("Pss"), ussKb: field("Private_Clean") + field("Private_Dirty") };
}

/** Sends a signal; false when the process is gone. */
export function signal(pid: number, name: NodeJS.Signals | number): boolean {
  try {
    process.kill(pid, name);
    return true;
  } catch {
    return false;
  }
}

/** Polls until `check` returns a value other than undefined/false, or throws after timeoutMs. */
export async function poll<T>(
  check: () => T | undefined | false,
  timeoutMs: number,
  what: string,
  everyMs = 5,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** A line a process wrote and when the bench read it. */
export interface Line {
  text: string;
  at: bigint;
}

/** Collects the lines of a stream, with the time each arrived, and waits for particular ones. */
export class Lines {
  readonly all: Line[] = [];
  private partial = "";
  private ended = false;
  private readonly waiters = new Set<() => void>();

  constructor(stream: Readable) {
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      const at = now();
      const parts = (this.partial + chunk).split("\n");
      this.partial = parts.pop()!;
      for (const text of parts) this.all.push({ text, at });
      this.notify();
    });
    stream.on("end", () => {
      if (this.partial) this.all.push({ text: this.partial, at: now() });
      this.partial = "";
      this.ended = true;
      this.notify();
    });
  }

  /** The first line at index >= from that matches; undefined if the stream ends first; throws on timeout. */
  wait(pattern: RegExp, timeoutMs: number, from = 0): Promise<Line | undefined> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const hit = this.all.slice(from).find((l) => pattern.test(l.text));
        if (hit || this.ended) {
          done();
          resolve(hit);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms; got:\n${this.text()}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Everything read so far, as one text. */
  text(): string {
    return this.all.map((l) => l.text).join("\n") + (this.partial ? `\n${this.partial}` : "");
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

/** A process the bench started. */
export interface Started {
  child: ChildProcess;
  pid: number;
  stdout?: Lines;
  stderr?: Lines;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: bigint }>;
}

const running = new Set<Started>();

/** Starts a process; stdout/stderr "pipe" are collected as Lines. */
export function start(
  argv: readonly string[],
  options: {
    env?: NodeJS.ProcessEnv;
    stdout?: "pipe" | "ignore";
    stderr?: "pipe" | "ignore";
    stdio?: StdioOptions;
  } = {},
): Started {
  const [file, ...args] = argv as [string, ...string[]];
  const child = spawn(file, args, {
    env: options.env ?? cleanEnv(),
    stdio: options.stdio ?? ["ignore", options.stdout ?? "ignore", options.stderr ?? "ignore"],
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: bigint }>(
    (resolve, reject) => {
      child.once("error", reject);
      child.once("exit", (code, sig) => resolve({ code, signal: sig, at: now() }));
    },
  );
  if (child.pid === undefined) {
    // spawn failed synchronously-ish; the 'error' event carries the reason
    return { child, pid: -1, exit };
  }
  const started: Started = {
    child,
    pid: child.pid,
    stdout: child.stdout ? new Lines(child.stdout) : undefined,
    stderr: child.stderr ? new Lines(child.stderr) : undefined,
    exit,
  };
  running.add(started);
  void exit.finally(() => running.delete(started)).catch(() => {});
  return started;
}

/** SIGKILLs a started process and all its descendants (found before the kill), and waits for it. */
export async function killHard(p: Started): Promise<void> {
  const tree = descendantsOf(p.pid);
  signal(p.pid, "SIGKILL");
  for (const pid of tree) signal(pid, "SIGKILL");
  await p.exit.catch(() => undefined);
}

/** Kills whatever the bench still has running (on the way out, or on Ctrl-C). */
export async function killEverything(): Promise<void> {
  await Promise.all([...running].map((p) => killHard(p)));
}

/** Waits at most ms for a promise; resolves undefined on timeout. */
export async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
