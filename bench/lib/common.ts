import { spawnSync } from "node:child_process";
import { accessSync, constants as fsConstants } from "node:fs";
import { delimiter, join } from "node:path";
import { withoutJobguardSettings } from "../../tools/env.js";
import { REPO_ROOT } from "../../tools/repo.js";

// The bench's fixtures and environment, the clock, and the numbers of a row;
// starting and killing processes is in processes.ts.

/** A compiled bench fixture (bench/fixtures/NAME.ts). */
export function fixture(name: string): string {
  return join(REPO_ROOT, "build", "bench", "fixtures", `${name}.js`);
}

/** The bench's environment without anything that would change jobguard's behaviour, or its database. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...withoutJobguardSettings(process.env, ["DATABASE_URL", "PGAPPNAME"]), ...extra };
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

/** n, min, median, p99 and max of a sample. */
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

/** A ratio such as "1.25×". */
export function fmtRatio(value: number | undefined): string {
  return value === undefined || Number.isNaN(value) ? "–" : `${value.toFixed(2)}×`;
}

/** The order of `items` for round `round`: rotated, so that each item runs first, second, ... equally often. */
export function rotate<T>(items: readonly T[], round: number): T[] {
  const k = items.length ? round % items.length : 0;
  return [...items.slice(k), ...items.slice(0, k)];
}

/** A logfmt field from a jobguard line: `key=value` or `key="quoted"`. */
export function field(line: string | undefined, key: string): string | undefined {
  if (!line) return undefined;
  const m = new RegExp(`(?:^| )${key}=("(?:[^"\\\\]|\\\\.)*"|\\S*)`).exec(line);
  if (!m) return undefined;
  return m[1]!.startsWith('"') ? (JSON.parse(m[1]!) as string) : m[1]!;
}
