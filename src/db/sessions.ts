import type { Client } from "../postgres/client.js";

/** One of the dead worker's sessions that jobguard ended. */
export interface EndedSession {
  pid: number;
  state: string | null;
  /** Advisory locks it held (GoodJob's and Que's job locks are advisory locks). */
  advisoryLocks: number;
}

/**
 * Ends the dead worker's sessions: those tagged with its application_name,
 * and those backends an adapter found by other means (Que's locker names its
 * own session). A killed client's idle session ends as soon as PostgreSQL
 * reads the closed socket, but one busy in a long query holds its row and
 * advisory locks until the query finishes; pg_terminate_backend ends it now.
 */
export async function terminateSessions(
  client: Client,
  tag: string | undefined,
  backends: readonly number[] = [],
): Promise<EndedSession[]> {
  if (tag === undefined && backends.length === 0) return [];
  // In the select list, not the WHERE clause: PostgreSQL may evaluate WHERE
  // conditions in any order, and must never terminate a session of someone else.
  const result = await client.query<{ pid: number; state: string | null; advisory: number; ended: boolean }>(
    `SELECT a.pid, a.state,
            (SELECT count(*) FROM pg_locks l WHERE l.pid = a.pid AND l.locktype = 'advisory' AND l.granted)::int AS advisory,
            pg_terminate_backend(a.pid) AS ended
       FROM pg_stat_activity a
      WHERE (a.application_name = $1 OR a.pid = ANY($2::int[])) AND a.pid <> pg_backend_pid()`,
    [tag ?? null, backends],
  );
  return result.rows
    .filter((row) => row.ended)
    .map(({ pid, state, advisory }) => ({ pid, state, advisoryLocks: advisory }));
}
