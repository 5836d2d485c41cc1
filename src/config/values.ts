import { UsageError, type RawValue } from "./options.js";

// Readings of one raw setting, each checked; a failure is one sentence
// naming the variable or flag the value came from.

/**
 * What a duration may be, in milliseconds. Node runs a longer timer than
 * 2^31 - 1 ms (about 24.8 days) after 1 ms instead, so no duration jobguard
 * waits for may be longer; and one that rounds to 0 ms would be a busy loop.
 */
export interface SecondsRange {
  minMs: number;
  /** Why a shorter value is refused, for the sentence. */
  why: string;
}

/** The longest duration of any setting: whole seconds within Node's timer limit. */
export const MAX_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

/** A duration that rounds to nothing is refused; most settings allow anything longer. */
export const ANY_DURATION: SecondsRange = { minMs: 1, why: "a shorter time rounds to nothing" };

/** Seconds, as milliseconds, within `range` and MAX_SECONDS; unset: `fallback` seconds. */
export function seconds(raw: RawValue | undefined, fallback: number, range = ANY_DURATION): number {
  if (!raw) return fallback * 1000;
  // Plain decimals only: "1e3", "0x10" or "Infinity" are almost always mistakes.
  if (!/^\d+(\.\d+)?$/.test(raw.value) || Number(raw.value) <= 0) {
    throw new UsageError(
      `${raw.source} must be a positive number of seconds, got ${JSON.stringify(raw.value)}`,
    );
  }
  const ms = Math.round(Number(raw.value) * 1000);
  if (ms < range.minMs) {
    throw new UsageError(
      `${raw.source} must be at least ${range.minMs / 1000} s (${range.why}), got ${JSON.stringify(raw.value)}`,
    );
  }
  if (ms > MAX_SECONDS * 1000) {
    throw new UsageError(
      `${raw.source} must be at most ${MAX_SECONDS} s (about 24 days, the longest timer Node keeps), got ${JSON.stringify(raw.value)}`,
    );
  }
  return ms;
}

/** The largest value of a PostgreSQL integer column. */
const MAX_INTEGER = 2 ** 31 - 1;

/** A whole number that a PostgreSQL integer column holds; unset: `fallback`. */
export function count(raw: RawValue | undefined, fallback: number): number {
  if (!raw) return fallback;
  if (!/^\d+$/.test(raw.value)) {
    throw new UsageError(`${raw.source} must be a whole number, got ${JSON.stringify(raw.value)}`);
  }
  if (Number(raw.value) > MAX_INTEGER) {
    throw new UsageError(
      `${raw.source} must be at most ${MAX_INTEGER} (what the database stores as an integer), got ${JSON.stringify(raw.value)}`,
    );
  }
  return Number(raw.value);
}

/** One of `allowed`. */
export function choice<T extends string>(raw: RawValue, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(raw.value)) {
    throw new UsageError(
      `${raw.source} must be one of ${allowed.join(", ")}, got ${JSON.stringify(raw.value)}`,
    );
  }
  return raw.value as T;
}

/** One of `allowed`; unset: `fallback`. */
export function oneOf<T extends string>(raw: RawValue | undefined, allowed: readonly T[], fallback: T): T {
  return raw ? choice(raw, allowed) : fallback;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]*$/;
// A table prefix may be empty (Solid Queue's tables without a prefix) or end in "_".
const PREFIX = /^([A-Za-z_][A-Za-z0-9_$]*)?$/;

/** A table's name, as [schema, name] or [name]; unset: [fallback]. */
export function tableName(raw: RawValue | undefined, fallback: string): string[] {
  return qualified(raw, fallback, IDENTIFIER, "a table name or schema.table");
}

/** A prefix of table names, as [schema, prefix] or [prefix]; unset: [fallback]. */
export function tablePrefix(raw: RawValue | undefined, fallback: string): string[] {
  return qualified(raw, fallback, PREFIX, "a table prefix or schema.prefix");
}

function qualified(raw: RawValue | undefined, fallback: string, last: RegExp, what: string): string[] {
  if (!raw) return [fallback];
  const parts = raw.value.split(".");
  if (
    parts.length > 2 ||
    !parts.slice(0, -1).every((part) => IDENTIFIER.test(part)) ||
    !last.test(parts[parts.length - 1]!)
  ) {
    throw new UsageError(`${raw.source} must be ${what}, got ${JSON.stringify(raw.value)}`);
  }
  return parts;
}
