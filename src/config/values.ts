import { UsageError, type RawValue } from "./options.js";

// Readings of one raw setting, each checked; a failure is one sentence
// naming the variable or flag the value came from.

/** Seconds, as milliseconds; unset: `fallback` seconds. */
export function seconds(raw: RawValue | undefined, fallback: number): number {
  if (!raw) return fallback * 1000;
  // Plain decimals only: "1e3", "0x10" or "Infinity" are almost always mistakes.
  if (!/^\d+(\.\d+)?$/.test(raw.value) || Number(raw.value) <= 0) {
    throw new UsageError(
      `${raw.source} must be a positive number of seconds, got ${JSON.stringify(raw.value)}`,
    );
  }
  return Math.round(Number(raw.value) * 1000);
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
