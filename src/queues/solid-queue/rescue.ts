import type { Client } from "../../postgres/client.js";
import type { DeadLeasePid, RescueSupport } from "../adapter.js";
import { forgetCounts } from "../rescue-count.js";
import { releaseCounted } from "./sql.js";
import type { SolidQueueTables } from "./tables.js";

/** Solid Queue's part in leases and sweeps. */
export function solidQueueRescue(t: SolidQueueTables): RescueSupport {
  return {
    holding: (client, host, pids) => registeredPids(client, t, host, pids),
    // One statement for every dead lease; only claims older than stale-after
    // go, and process rows once they hold none (sql.ts, releaseCounted).
    rescue: (client, dead, staleAfterMs, counting) => releaseCounted(client, t, dead, staleAfterMs, counting),
    stillHolding: (client, dead) => leasesStillRegistered(client, t, dead),
    forgetCounts: (client, countsTable) => forgetCounts(client, countsTable, t.jobs, t.jobTable),
  };
}

/** The leases among `dead` whose processes still have a row: they stay until a later sweep removes it. */
async function leasesStillRegistered(
  client: Client,
  t: SolidQueueTables,
  dead: readonly DeadLeasePid[],
): Promise<Set<string>> {
  const result = await client.query<{ lease: string }>(
    `SELECT DISTINCT d.lease FROM unnest($1::text[], $2::text[], $3::int[]) AS d(lease, host, pid)
      WHERE EXISTS (SELECT 1 FROM ${t.processes} p WHERE p.hostname = d.host AND p.pid = d.pid)`,
    [dead.map((d) => d.lease), dead.map((d) => d.host), dead.map((d) => d.pid)],
  );
  return new Set(result.rows.map((r) => r.lease));
}

/** Of these pids of this host, those with a process row: a dead process without one can be forgotten. */
async function registeredPids(
  client: Client,
  t: SolidQueueTables,
  host: string,
  pids: readonly number[],
): Promise<Set<number>> {
  const result = await client.query<{ pid: number }>(
    `SELECT DISTINCT pid FROM ${t.processes} WHERE hostname = $1 AND pid = ANY($2::int[])`,
    [host, pids],
  );
  return new Set(result.rows.map((r) => r.pid));
}
