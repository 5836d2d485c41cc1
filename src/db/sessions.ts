import type { Client } from "pg";

/** One of the dead worker's sessions that jobguard ended. */
export interface EndedSession {
  pid: number;
  state: string | null;
}

/**
 * Ends every session tagged with the dead worker's application_name. A killed
 * client's idle session ends as soon as PostgreSQL reads the closed socket, but
 * one busy in a long query holds its row and advisory locks until the query
 * finishes; pg_terminate_backend ends it now.
 */
export async function terminateSessions(client: Client, tag: string): Promise<EndedSession[]> {
  // In the select list, not the WHERE clause: PostgreSQL may evaluate WHERE
  // conditions in any order, and must never terminate a session of someone else.
  const result = await client.query<{ pid: number; state: string | null; ended: boolean }>(
    `SELECT pid, state, pg_terminate_backend(pid) AS ended FROM pg_stat_activity
      WHERE application_name = $1 AND pid <> pg_backend_pid()`,
    [tag],
  );
  return result.rows.filter((row) => row.ended).map(({ pid, state }) => ({ pid, state }));
}
