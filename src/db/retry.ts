import { setTimeout as sleep } from "node:timers/promises";
import type { Client } from "../postgres/client.js";
import { now } from "../clock.js";
import type { KeptConnection } from "./kept-connection.js";

// Errors worth another try while the grace period lasts: the network, a
// restarting or overloaded server, a lock still held by a session being ended.
const TRANSIENT_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EPIPE",
  "EAI_AGAIN",
  "ENOTFOUND",
  "57P01",
  "57P02",
  "57P03",
  "53300",
  "40001",
  "40P01",
  "55P03",
]);

/** True for an error that another attempt, on a new connection, may not meet. */
export function isTransient(error: unknown): boolean {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  // Class 08 is connection trouble, but for 08P01, a protocol violation, which another try repeats.
  if (typeof code === "string" && (TRANSIENT_CODES.has(code) || (code.startsWith("08") && code !== "08P01")))
    return true;
  const message = error instanceof Error ? error.message : "";
  return /Connection terminated|timeout expired|timed out/i.test(message);
}

// Every attempt gets at least this long, if there is time left: a new TLS
// connection, the release statement and its answer.
const MIN_ATTEMPT_MS = 1000;

/**
 * How long one attempt may take when leftMs remain: half of it, so that an
 * attempt lost to a connection gone silent still leaves the other half to an
 * attempt on a new one; but at least MIN_ATTEMPT_MS, and never more than leftMs.
 */
export function attemptLimit(leftMs: number): number {
  return Math.min(leftMs, Math.max(MIN_ATTEMPT_MS, leftMs / 2));
}

/**
 * Rejects when untilMs comes first: no statement or connection may hold
 * jobguard past the grace period. untilMs is on the monotonic clock (clock.ts).
 */
export function beforeDeadline<T>(work: Promise<T>, untilMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error("timed out before the grace period ends")),
      Math.max(0, untilMs - now()),
    );
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** How a run of attempts ended. */
export type Attempts<T> =
  { ok: true; value: T; attempts: number } | { ok: false; error: unknown; attempts: number };

/**
 * Runs fn on the database until it succeeds, an error is not transient, or
 * untilMs (on the monotonic clock, clock.ts) comes. Each attempt has its own
 * limit (attemptLimit); after each failure, the connection is dropped (see
 * KeptConnection.use), so the next attempt runs on a new one, after a backoff
 * that grows by 100 ms an attempt.
 */
export async function retryUntil<T>(
  database: KeptConnection,
  untilMs: number,
  fn: (client: Client) => Promise<T>,
  onRetry: (attempt: number, error: unknown) => void = () => {},
): Promise<Attempts<T>> {
  let error: unknown = new Error("no time left");
  let attempts = 0;
  while (now() < untilMs) {
    attempts++;
    try {
      return { ok: true, value: await database.use(attemptLimit(untilMs - now()), fn), attempts };
    } catch (caught) {
      error = caught;
      if (!isTransient(caught)) break;
      onRetry(attempts, caught);
      await sleep(Math.min(100 * attempts, Math.max(0, untilMs - now())));
    }
  }
  return { ok: false, error, attempts };
}
