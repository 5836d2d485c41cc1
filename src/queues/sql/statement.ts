import type { Client } from "pg";

// The user's JOBGUARD_RELEASE_SQL is prepared with declared parameter types, so
// it may use any of them, or none, and PostgreSQL checks it as soon as the
// connection opens, long before the deadline.
const STATEMENT = "jobguard_release";

/**
 * Prepares the statement on this connection. Its parameters: $1 the host name
 * (text), $2 the dead pids (int[]), $3 delayed_job-style worker names
 * "host:<host> pid:<pid>" (text[]).
 */
export async function prepareCustomRelease(client: Client, sql: string): Promise<void> {
  await client.query(`PREPARE ${STATEMENT}(text, int[], text[]) AS ${sql}`);
}

/** Runs the prepared statement; the ids are those of the rows it returns (RETURNING id), if any. */
export async function runCustomRelease(
  client: Client,
  host: string,
  pids: number[],
  names: string[],
): Promise<{ count: number; ids: string[] }> {
  // EXECUTE is a utility statement and takes no bind parameters, so its
  // arguments go in as quoted literals; the pids are integers by construction.
  const text = (value: string) => client.escapeLiteral(value);
  const args = [
    text(host),
    `ARRAY[${pids.map((pid) => Math.trunc(pid)).join(",")}]::int[]`,
    `ARRAY[${names.map(text).join(",")}]::text[]`,
  ];
  const result = await client.query(`EXECUTE ${STATEMENT}(${args.join(", ")})`);
  const ids = result.rows.map((row: { id?: unknown }) => row.id).filter((id) => id !== undefined).map(String);
  return { count: result.rowCount ?? result.rows.length, ids };
}
