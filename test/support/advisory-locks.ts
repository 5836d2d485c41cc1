import { existsSync, readFileSync } from "node:fs";
import { withClient } from "../../tools/db.js";
import { fixture } from "./jobguard.js";
import { waitFor } from "./wait.js";

// Queues whose job locks are advisory locks of the worker's session (GoodJob's
// default strategy, Que), and test/fixtures/advisory-worker.mjs, a worker that
// takes one ($LOCK_KEY) and then hangs in a long query.

/** The worker, as a command. */
export const ADVISORY_WORKER = ["node", fixture("advisory-worker.mjs")];

/** Waits for the worker's READY line in `events`: its pid and its backend's. */
export async function holdsItsLock(events: string): Promise<{ pid: number; backend: number }> {
  const line = await waitFor(() => existsSync(events) && readFileSync(events, "utf8").trim(), {
    what: "the worker to hold its lock",
  });
  const [, pid, backend] = line.split(" ").map(Number);
  return { pid: pid!, backend: backend! };
}

/** True when another session can take the advisory lock now (and gives it back at once). */
export async function lockIsFree(url: string, key: number): Promise<boolean> {
  return withClient(url, async (c) => {
    const free = (await c.query<{ free: boolean }>("SELECT pg_try_advisory_lock($1) AS free", [key])).rows[0]!
      .free;
    if (free) await c.query("SELECT pg_advisory_unlock($1)", [key]);
    return free;
  });
}
