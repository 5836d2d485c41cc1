import type { Client } from "../postgres/client.js";
import type { RescueConfig } from "../config/config.js";
import { leaseTables } from "../lease/schema.js";
import type { Privilege } from "../queues/adapter.js";
import { reportTables, tableStates } from "./tables.js";

// Heartbeats insert, update and delete their lease; sweeps read every lease and
// count rescues; a crash release counts too.
const LEASE_PRIVILEGES: readonly Privilege[] = ["SELECT", "INSERT", "UPDATE", "DELETE"];

/**
 * Can this role keep leases: are jobguard's own tables there and writable, or
 * may it create them where JOBGUARD_LEASE_TABLE says? A role that may not
 * logs a failed heartbeat every heartbeat, and its dynos' jobs are never
 * rescued. Resolves the number of problems.
 */
export async function checkLeaseTables(
  client: Client,
  config: RescueConfig,
  role: string,
  out: (line: string) => void,
): Promise<number> {
  const tables = leaseTables(config.leaseTable);
  const states = await tableStates(client, [
    { table: tables.leases, what: "jobguard's lease table", privileges: LEASE_PRIVILEGES },
    { table: tables.rescues, what: "jobguard's rescue counts", privileges: LEASE_PRIVILEGES },
  ]);
  const absent = states.filter((s) => !s.exists);
  if (absent.length === 0) {
    const problems = reportTables(states, role, out);
    if (!problems) out(`lease tables: ${tables.leases} and ${tables.rescues}, writable`);
    return problems;
  }
  // jobguard creates what is missing at its first heartbeat, in the schema named, or else the
  // first of the search_path that exists (current_schema()); the name comes back quoted.
  const schema = await client.query<{ name: string | null; exists: boolean; create: boolean }>(
    `SELECT quote_ident(s.name) AS name, n.oid IS NOT NULL AS exists, n.oid IS NOT NULL AND has_schema_privilege(n.oid, 'CREATE') AS create
       FROM (SELECT coalesce($1, current_schema()) AS name) AS s LEFT JOIN pg_namespace n ON n.nspname = s.name`,
    [config.leaseTable.length > 1 ? config.leaseTable[0] : null],
  );
  const { name, exists, create } = schema.rows[0]!;
  const names = absent.map((s) => s.use.table).join(" and ");
  if (name === null || !exists) {
    out(
      `error: ${names} cannot be created: ${name === null ? "no schema of the search_path exists" : `there is no schema ${name}`} (set JOBGUARD_LEASE_TABLE to schema.table in a schema that exists)`,
    );
    return 1;
  }
  if (!create) {
    out(
      `error: ${names} cannot be created: the role ${role} may not create tables in schema ${name} (GRANT CREATE ON SCHEMA ${name} TO ${role}, create the tables as their owner, or set JOBGUARD_LEASE_TABLE to a schema it may create in)`,
    );
    return 1;
  }
  out(`lease tables: ${names} not there yet; jobguard creates them in schema ${name} at its first heartbeat`);
  return reportTables(
    states.filter((s) => s.exists),
    role,
    out,
  );
}
