import { spawn, spawnSync, type ChildProcess, type StdioOptions } from "node:child_process";
import { accessSync, constants as fsConstants, existsSync, readdirSync, readFileSync } from "node:fs";
import { delimiter, dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";

/** The repository root: the nearest ancestor holding package.json (valid from bench/ and build/bench/). */
export const REPO_ROOT: string = (() => {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json"))) return dir;
    if (dirname(dir) === dir) throw new Error("no package.json above the bench");
  }
})();

/** The built jobguard, run as a user runs it. */
export const JOBGUARD = join(REPO_ROOT, "build", "src", "cli.js");

/** A compiled bench fixture (bench/fixtures/NAME.ts). */
export function fixture(name: string): string {
  return join(REPO_ROOT, "build", "bench", "fixtures", `${name}.js`);
}

/** The bench's environment without anything that would change jobguard's behaviour. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of Object.keys(env)) {
    if (key.startsWith("JOBGUARD_") || key === "DYNO" || key === "DATABASE_URL" || key === "PGAPPNAME") delete env[key];
  }
  return { ...env, ...extra };
}

/** CLOCK_MONOTONIC in nanoseconds: the same clock in every process on this machine. */
export const now = (): bigint => process.hrtime.bigint();

/** Milliseconds between two now() values. */
export const msBetween = (from: bigint, to: bigint): number => Number(to - from) / 1e6;

/** The absolute path of an executable on PATH, or undefined. */
export function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const path = join(dir, name);
    try {
      accessSync(path, fsConstants.X_OK);
      return path;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

/** First line a command prints (stdout or stderr) for e.g. --version, or undefined. */
export function firstLine(file: string, args: string[]): string | undefined {
  const r = spawnSync(file, args, { encoding: "utf8", timeout: 10_000 });
  if (r.error) return undefined;
  return `${r.stdout ?? ""}${r.stderr ?? ""}`.trim().split("\n")[0] || undefined;
}

// ---------------------------------------------------------------- statistics

/** Nearest-rank quantile (q in 0..1) of unsorted values; with fewer than 100 values p99 is the maximum. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1]!;
}

/** The usual summary of a sample. */
export interface Summary {
  n: number;
  min: number;
  median: number;
  p99: number;
  max: number;
}

export function summarize(values: readonly number[]): Summary {
  return {
    n: values.length,
    min: values.length ? Math.min(...values) : NaN,
    median: quantile(values, 0.5),
    p99: quantile(values, 0.99),
    max: values.length ? Math.max(...values) : NaN,
  };
}

/** A number for a table: fixed decimals, "–" when missing. */
export function fmt(value: number | undefined, digits = 1): string {
  return value === undefined || Number.isNaN(value) ? "–" : value.toFixed(digits);
}

/** Milliseconds with a precision that suits their size. */
export function fmtMs(value: number | undefined): string {
  if (value === undefined || Number.isNaN(value)) return "–";
  const abs = Math.abs(value);
  return `${value.toFixed(abs < 10 ? 2 : abs < 100 ? 1 : 0)} ms`;
}

/** A difference in milliseconds with its sign. */
export function fmtDelta(value: number | undefined): string {
  if (value === undefined || Number.isNaN(value)) return "–";
  return `${value < 0 ? "−" : "+"}${fmtMs(Math.abs(value))}`;
}

export function fmtRatio(value: number | undefined): string {
  return value === undefined || Number.isNaN(value) ? "–" : `${value.toFixed(2)}×`;
}

/** The order of `items` for round `round`: rotated, so that each item runs first, second, ... equally often. */
export function rotate<T>(items: readonly T[], round: number): T[] {
  const k = items.length ? round % items.length : 0;
  return [...items.slice(k), ...items.slice(0, k)];
}

// ---------------------------------------------------------------- processes

/** ppid and state of a process from /proc/PID/stat, or undefined when it is gone. */
export function stat(pid: number): { ppid: number; state: string } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "latin1");
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return { state: fields[0]!, ppid: Number(fields[1]) };
  } catch {
    return undefined;
  }
}

/** True while the process exists and is not a zombie. */
export function alive(pid: number): boolean {
  const s = stat(pid);
  return s !== undefined && s.state !== "Z" && s.state !== "X";
}

/** The command name (/proc/PID/comm) or undefined. */
export function comm(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, "latin1").trim();
  } catch {
    return undefined;
  }
}

/** Every living descendant of pid, by parent links. */
export function descendants(pid: number): number[] {
  const parents = new Map<number, number>();
  for (const name of readdirSync("/proc")) {
    const child = Number(name);
    if (!Number.isInteger(child)) continue;
    const s = stat(child);
    if (s && s.state !== "Z" && s.state !== "X") parents.set(child, s.ppid);
  }
  const found = new Set([pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [child, parent] of parents) {
      if (!found.has(child) && found.has(parent)) {
        found.add(child);
        grew = true;
      }
    }
  }
  found.delete(pid);
  return [...found];
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

export function signal(pid: number, name: NodeJS.Signals | number): boolean {
  try {
    process.kill(pid, name);
    return true;
  } catch {
    return false;
  }
}

/** Polls until `check` returns a value other than undefined/false, or throws after timeoutMs. */
export async function poll<T>(check: () => T | undefined | false, timeoutMs: number, what: string, everyMs = 5): Promise<T> {
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
  options: { env?: NodeJS.ProcessEnv; stdout?: "pipe" | "ignore"; stderr?: "pipe" | "ignore"; stdio?: StdioOptions } = {},
): Started {
  const [file, ...args] = argv as [string, ...string[]];
  const child = spawn(file, args, {
    env: options.env ?? cleanEnv(),
    stdio: options.stdio ?? ["ignore", options.stdout ?? "ignore", options.stderr ?? "ignore"],
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: bigint }>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code, sig) => resolve({ code, signal: sig, at: now() }));
  });
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
  const tree = descendants(p.pid);
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

/** A logfmt field from a jobguard line: `key=value` or `key="quoted"`. */
export function field(line: string | undefined, key: string): string | undefined {
  if (!line) return undefined;
  const m = new RegExp(`(?:^| )${key}=("(?:[^"\\\\]|\\\\.)*"|\\S*)`).exec(line);
  if (!m) return undefined;
  return m[1]!.startsWith('"') ? (JSON.parse(m[1]!) as string) : m[1]!;
}
