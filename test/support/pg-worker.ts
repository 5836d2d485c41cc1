import { existsSync, readFileSync } from "node:fs";
import { fixture } from "./jobguard.js";
import { waitFor } from "./wait.js";

/** The command of test/fixtures/pg-worker.mjs: a worker that takes a lock in PostgreSQL and hangs on to it. */
export const PG_WORKER = ["node", fixture("pg-worker.mjs")];

/** Its LOCK_SQL for job `id` of a delayed_jobs table: locked under its own name, `ago` (an interval) ago. */
export function lockJobSql(table: string, id: number, ago = "0 seconds"): string {
  return `UPDATE ${table} SET locked_by = $1, locked_at = now() AT TIME ZONE 'UTC' - interval '${ago}' WHERE id = ${id}`;
}

/** Waits for its READY line in the EVENTS file: its pid and its sessions' application_name. */
export async function workerReady(events: string): Promise<{ pid: number; app: string }> {
  const line = await waitFor(() => existsSync(events) && readFileSync(events, "utf8").trim(), {
    what: "the worker to take its lock",
  });
  const [, pid, app] = line.split(" ");
  return { pid: Number(pid), app: app! };
}
