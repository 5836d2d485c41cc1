import type { Client } from "../postgres/client.js";
import type { Privilege, TableUse } from "../queues/adapter.js";

/** A table as the connected role finds it. */
export interface TableState {
  use: TableUse;
  exists: boolean;
  /** The privileges of `use` the role lacks on the table (none when it does not exist). */
  missing: Privilege[];
}

/**
 * Whether each table exists, and which of its privileges the role lacks, in
 * one round trip. The privileges are the table's own: a grant on some columns
 * only is reported missing, although a statement might get by with it.
 */
export async function tableStates(client: Client, uses: readonly TableUse[]): Promise<TableState[]> {
  if (uses.length === 0) return [];
  const result = await client.query<{ exists: boolean; missing: Privilege[] }>(
    `SELECT c.oid IS NOT NULL AS exists,
            ARRAY(SELECT p FROM unnest(string_to_array(t.privileges, ',')) AS p
                   WHERE c.oid IS NOT NULL AND NOT has_table_privilege(c.oid, p)) AS missing
       FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS t(name, privileges, n)
       CROSS JOIN LATERAL (SELECT to_regclass(t.name)::oid AS oid) AS c
      ORDER BY t.n`,
    [uses.map((u) => u.table), uses.map((u) => u.privileges.join(","))],
  );
  return result.rows.map((row, i) => ({ use: uses[i]!, exists: row.exists, missing: row.missing }));
}

/** One sentence for each table that is missing or lacks a privilege; resolves how many there are. */
export function reportTables(
  states: readonly TableState[],
  role: string,
  out: (line: string) => void,
): number {
  let problems = 0;
  for (const { use, exists, missing } of states) {
    if (!exists) {
      out(`error: ${use.table} (${use.what}) does not exist in this database`);
      problems++;
    } else if (missing.length) {
      out(
        `error: the role ${role} may not ${missing.join(" or ")} ${use.table} (${use.what}), which the release needs: GRANT ${missing.join(", ")} ON ${use.table} TO ${role}`,
      );
      problems++;
    }
  }
  return problems;
}
