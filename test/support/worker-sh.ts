import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { tempDir } from "./jobguard.js";

// What test/fixtures/worker.sh reports: a line per signal it received (and
// READY once set up) in its EVENTS file, and every pid of its tree in PIDS.

/** Fresh EVENTS and PIDS files for one run of worker.sh. */
export function workerFiles(): { events: string; pids: string } {
  const dir = tempDir();
  return { events: join(dir, "events"), pids: join(dir, "pids") };
}

/** The lines of an EVENTS file so far. */
export function workerEvents(file: string): string[] {
  return existsSync(file) ? readFileSync(file, "utf8").split("\n").filter(Boolean) : [];
}

/** How many SIGTERMs the worker has received. */
export function termsHeard(file: string): number {
  return workerEvents(file).filter((e) => e === "TERM").length;
}

/** Waits (generously: the machine may be busy) until the worker is set up. */
export async function untilReady(file: string): Promise<void> {
  for (let i = 0; i < 2000 && !workerEvents(file).includes("READY"); i++) await sleep(10);
  assert.ok(workerEvents(file).includes("READY"), "the worker never got ready");
}
