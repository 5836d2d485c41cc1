import type { Client } from "pg";
import type { DeadLeasePid, RescueCounting, Released } from "../adapter.js";
import { rescueLimitError } from "../rescue-count.js";
import { backToReady, released } from "./release.js";
import type { SolidQueueTables } from "./tables.js";

// The process rows of dead leases' processes, and of those they supervised:
// $1 hosts, $2 pids (one pair a dead process).
function deadProcesses(t: SolidQueueTables): string {
  return `own AS (
      SELECT p.id FROM ${t.processes} p JOIN unnest($1::text[], $2::int[]) AS d(host, pid) ON p.hostname = d.host AND p.pid = d.pid
    ), gone AS (
      SELECT id FROM own UNION SELECT s.id FROM ${t.processes} s WHERE s.supervisor_id IN (SELECT id FROM own)
    )`;
}

/**
 * A sweep's rescue, one statement for every dead lease: the claims older than
 * stale-after ($3) go back to ready, counted; the process rows go once they
 * hold no claim and have not written a heartbeat of their own for
 * stale-after either, so a young claim keeps its process row (Solid Queue
 * would fail a claim without one) and the lease, until a later sweep.
 */
export async function rescueDeadLeases(
  client: Client,
  t: SolidQueueTables,
  dead: readonly DeadLeasePid[],
  staleAfterMs: number,
  counting: RescueCounting,
): Promise<Released> {
  const result = await client.query<{ id: string; failed: boolean }>(
    `WITH ${deadProcesses(t)}, dead_claims AS (
       DELETE FROM ${t.claimed} c USING gone g
        WHERE c.process_id = g.id AND c.created_at < (now() AT TIME ZONE 'UTC') - $3 * interval '1 millisecond'
       RETURNING c.job_id AS id, c.process_id
     ), deregistered AS (
       DELETE FROM ${t.processes} p USING gone g
        WHERE p.id = g.id AND p.last_heartbeat_at < (now() AT TIME ZONE 'UTC') - $3 * interval '1 millisecond'
          AND NOT EXISTS (SELECT 1 FROM ${t.claimed} c WHERE c.process_id = p.id AND c.job_id NOT IN (SELECT id FROM dead_claims))
       RETURNING p.id
     ), ${backToReady(t, counting.countsTable)}`,
    [
      dead.map((d) => d.host),
      dead.map((d) => d.pid),
      staleAfterMs,
      t.jobTable,
      counting.maxRescues,
      rescueLimitError(counting.maxRescues),
    ],
  );
  return released(result.rows);
}

/** The leases among `dead` whose processes still have a row: they stay until a later sweep removes it. */
export async function leasesStillRegistered(
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
export async function registeredPids(
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
