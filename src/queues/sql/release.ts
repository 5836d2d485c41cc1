import { randomBytes } from "node:crypto";
import type { Client, QueryResult } from "../../postgres/client.js";
import { preparedParameters, StatementMisfit } from "../../db/prepare.js";

// The user's JOBGUARD_RELEASE_SQL is prepared with declared parameter types, so
// it may use any of them, or none. PREPARE, EXECUTE and DEALLOCATE go to the
// server as one simple query: one implicit transaction, which a transaction
// pooler (PgBouncer) runs on one server connection, where a statement
// prepared at connect and executed later could land on another. Each run has
// a name of its own, so that a run cut short (a statement prepared survives
// the rollback of its transaction) never collides with the next.
const PARAMETERS = ["text", "int[]", "text[]"];
const TYPES = `(${PARAMETERS.join(", ")})`;

function statementName(): string {
  return `jobguard_release_${randomBytes(6).toString("hex")}`;
}

/**
 * Checks the statement by preparing it (and dropping it again), never running
 * it: a mistake shows as soon as the connection opens, or in `jobguard check`,
 * not at the deadline. It must be one statement, and use no parameter beyond
 * $1 the host name (text), $2 the dead pids (int[]), $3 delayed_job-style
 * worker names "host:<host> pid:<pid>" (text[]). PostgreSQL infers the type
 * of a $4 where it can, and would prepare it; the release has no value for it.
 */
export async function prepareCustomRelease(client: Client, sql: string): Promise<void> {
  const used = await preparedParameters(client, sql, PARAMETERS);
  if (used.length > PARAMETERS.length)
    throw new StatementMisfit(
      `it uses $${used.length}, and jobguard passes only $1 (the host), $2 (the dead pids) and $3 (the worker names)`,
    );
}

/** Prepares, runs and drops the statement; the ids are those of the rows it returns (RETURNING id), if any. */
export async function runCustomRelease(
  client: Client,
  sql: string,
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
  const name = statementName();
  // Three statements in one simple query: one result for each (src/postgres/client.ts).
  const results = (await client.query(
    `PREPARE ${name}${TYPES} AS ${sql}; EXECUTE ${name}(${args.join(", ")}); DEALLOCATE ${name}`,
  )) as unknown as QueryResult<{ id?: unknown }>[];
  const result = results[1]!;
  const ids = result.rows
    .map((row) => row.id)
    .filter((id) => id !== undefined)
    .map(String);
  return { count: result.rowCount ?? result.rows.length, ids };
}
