import { quoteTable } from "../../db/sql.js";
import type { QueueAdapter } from "../adapter.js";

/**
 * Que 2.x: a job is locked by an advisory lock (pg_try_advisory_lock(id)) of
 * the locker's connection, dropped when that session ends. The locker sets
 * its own application_name ("Que Locker: <backend pid>"), which hides
 * jobguard's tag, so its session is found through que_lockers, where it
 * registers its backend pid with ruby_hostname and ruby_pid. A row names the
 * dead worker's backend only while that backend still carries the locker's
 * name for its own pid: que_lockers is keyed by backend pid, and a later
 * locker that took the pid would have replaced the row.
 */
export function que(table: readonly string[]): QueueAdapter {
  const lockers = quoteTable(table);
  return {
    async sessions(client, worker) {
      // A pid a newer process took may be that process's own locker: left out.
      const pids = worker.dead.filter((d) => d.reusedSince === undefined).map((d) => d.pid);
      const result = await client.query<{ pid: number }>(
        `SELECT l.pid FROM ${lockers} l JOIN pg_stat_activity a ON a.pid = l.pid
          WHERE l.ruby_hostname = $1 AND l.ruby_pid = ANY($2::int[]) AND a.application_name = 'Que Locker: ' || l.pid`,
        [worker.host, pids],
      );
      return result.rows.map((r) => r.pid);
    },
    release: async () => ({ count: 0, ids: [] }),
    async check(client, out) {
      const result = await client.query<{
        ruby_hostname: string;
        ruby_pid: number;
        pid: number;
        alive: boolean;
      }>(
        `SELECT l.ruby_hostname, l.ruby_pid, l.pid, EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = l.pid) AS alive
           FROM ${lockers} l ORDER BY l.ruby_hostname, l.ruby_pid`,
      );
      out(result.rows.length ? "Que lockers:" : "no Que lockers registered");
      for (const r of result.rows)
        out(
          `  host:${r.ruby_hostname} pid:${r.ruby_pid}: backend ${r.pid}${r.alive ? "" : " (session gone)"}`,
        );
      return 0;
    },
  };
}
