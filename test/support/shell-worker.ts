import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fixture, tempDir } from "./jobguard.js";

// test/fixtures/worker.sh, the stand-in worker that logs every signal it gets
// (READY, TERM, INT, USR1, ...) to $EVENTS and its tree's pids to $PIDS.

/** The shell worker, as a command. */
export const SHELL_WORKER = fixture("worker.sh");

/** Where one run of the shell worker writes: its events and its tree's pids, in a fresh directory. */
export function files(): { dir: string; events: string; pids: string } {
  const dir = tempDir();
  return { dir, events: join(dir, "events"), pids: join(dir, "pids") };
}

/** The events the worker has logged so far. */
export function events(file: string): string[] {
  return existsSync(file) ? readFileSync(file, "utf8").split("\n").filter(Boolean) : [];
}

/** Waits until the worker has logged READY (its traps are set); fails the test if it never does. */
export async function ready(file: string): Promise<void> {
  for (let i = 0; i < 2000 && !events(file).includes("READY"); i++) await sleep(10);
  assert.ok(events(file).includes("READY"), "the worker never got ready");
}

/** Waits until the worker has logged `count` events (generous: the machine may be busy). */
export async function eventCount(file: string, count: number): Promise<void> {
  for (let i = 0; i < 2000 && events(file).length < count; i++) await sleep(10);
}

/** How many SIGTERMs the worker has logged. */
export function terms(file: string): number {
  return events(file).filter((e) => e === "TERM").length;
}
