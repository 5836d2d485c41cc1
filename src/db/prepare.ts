import { randomBytes } from "node:crypto";
import type { Client } from "../postgres/client.js";

/** A statement that cannot be prepared as one statement with these parameters. */
export class StatementMisfit extends Error {}

/**
 * Prepares `sql` with these declared parameter types and drops it again,
 * without ever running it; resolves the types of every parameter it uses.
 *
 * The PREPARE goes through the extended protocol, whose Parse takes exactly
 * one statement: `SELECT 1; DROP TABLE t` is refused by the server, where the
 * simple protocol would run both. A PREPARE only plans. The three steps share
 * a transaction, so that a transaction pooler (PgBouncer) keeps them on one
 * server connection; the statement is dropped before the transaction ends,
 * since a PREPARE outlives a rollback.
 */
export async function preparedParameters(
  client: Client,
  sql: string,
  types: readonly string[],
): Promise<string[]> {
  const name = `jobguard_check_${randomBytes(6).toString("hex")}`;
  await client.query("BEGIN");
  try {
    try {
      await client.query({ text: `PREPARE ${name}(${types.join(", ")}) AS ${sql}`, queryMode: "extended" });
    } catch (error) {
      if (/cannot insert multiple commands into a prepared statement/.test((error as Error).message))
        throw new StatementMisfit("it holds more than one statement, and jobguard runs exactly one");
      throw error;
    }
    const prepared = await client.query<{ types: string[] }>(
      "SELECT parameter_types::text[] AS types FROM pg_prepared_statements WHERE name = $1",
      [name],
    );
    await client.query(`DEALLOCATE ${name}`);
    return prepared.rows[0]!.types;
  } finally {
    await client.query("ROLLBACK");
  }
}
