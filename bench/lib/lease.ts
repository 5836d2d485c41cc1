import type { Client } from "../../src/postgres/client.js";
import { insertLease, renewLease, type Lease } from "../../src/lease/lease-sql.js";
import type { LeaseTables } from "../../src/lease/schema.js";

/** What a running jobguard's heartbeat writes: a renewal, or the first write. */
export async function heartbeat(client: Client, tables: LeaseTables, lease: Lease): Promise<void> {
  if (!(await renewLease(client, tables, lease))) await insertLease(client, tables, lease);
}

/** A lease of the bench's simulated dynos, with the default timing. */
export function benchLease(fields: Pick<Lease, "id" | "host" | "dyno" | "pids" | "sessionTag">): Lease {
  return { ...fields, pidNamespace: undefined, heartbeatMs: 10_000, staleAfterMs: 60_000 };
}
