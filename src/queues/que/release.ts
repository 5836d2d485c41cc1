import type { Client } from "../../postgres/client.js";
import type { DeadWorker } from "../adapter.js";

/**
 * The backends of the dead worker's lockers, which the release ends with its
 * tagged sessions: their advisory locks are Que's claims. A row names the
 * dead worker's backend only while that backend still carries the locker's
 * name for its own pid: que_lockers is keyed by backend pid, and a later
 * locker that took the pid would have replaced the row.
 */
export async function lockerSessions(client: Client, lockers: string, worker: DeadWorker): Promise<number[]> {
  // A pid a newer process took may be that process's own locker: left out.
  const pids = worker.dead.filter((d) => d.reusedSince === undefined).map((d) => d.pid);
  const result = await client.query<{ pid: number }>(
    `SELECT l.pid FROM ${lockers} l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.ruby_hostname = $1 AND l.ruby_pid = ANY($2::int[]) AND a.application_name = 'Que Locker: ' || l.pid`,
    [worker.host, pids],
  );
  return result.rows.map((r) => r.pid);
}
