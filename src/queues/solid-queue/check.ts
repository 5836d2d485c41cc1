import type { Client } from "../../postgres/client.js";
import type { CheckHost } from "../adapter.js";
import type { SolidQueueTables } from "./tables.js";

/**
 * Lists the claimed executions by process, marking the processes of this host
 * that no longer exist. The release and the sweep find claims by process_id,
 * which Solid Queue's own index (process_id, job_id) serves, and processes by
 * host and pid in a table of a few rows per dyno: no index to recommend.
 */
export async function checkSolidQueue(
  client: Client,
  t: SolidQueueTables,
  host: CheckHost,
  out: (line: string) => void,
): Promise<number> {
  const result = await client.query<{
    kind: string;
    hostname: string | null;
    pid: number;
    name: string;
    jobs: string;
    ids: string[];
    since: Date | null;
  }>(
    `SELECT p.kind, p.hostname, p.pid, p.name, count(c.job_id) AS jobs, (array_agg(c.job_id ORDER BY c.job_id) FILTER (WHERE c.job_id IS NOT NULL))[1:20] AS ids,
            min(c.created_at) AS since
       FROM ${t.processes} p LEFT JOIN ${t.claimed} c ON c.process_id = p.id
      GROUP BY p.id ORDER BY p.hostname, p.pid`,
  );
  const orphans = await client.query<{ n: string }>(
    `SELECT count(*) AS n FROM ${t.claimed} c WHERE NOT EXISTS (SELECT 1 FROM ${t.processes} p WHERE p.id = c.process_id)`,
  );
  let problems = 0;
  out(result.rows.length ? "processes and their claimed jobs:" : "no processes registered");
  for (const row of result.rows) {
    const gone = row.hostname === host.name && !host.isRunning(row.pid);
    const jobs = Number(row.jobs);
    if (gone && jobs > 0) problems++;
    const claims = jobs
      ? `${jobs} claimed (ids ${(row.ids ?? []).join(",")}${jobs > 20 ? ",..." : ""}) since ${row.since!.toISOString()}`
      : "no claims";
    out(
      `  ${row.kind} ${row.name} host:${row.hostname} pid:${row.pid}: ${claims}${gone ? "  <- no such process on this host" : ""}`,
    );
  }
  // Such claims are jobs about to be lost: the next supervisor to boot fails them.
  const orphaned = Number(orphans.rows[0]!.n);
  if (orphaned)
    out(
      `error: ${orphaned} claimed execution(s) without a process row: Solid Queue fails them (ProcessMissingError) when a supervisor starts`,
    );
  if (problems) out(`error: ${problems} process(es) of this host hold claims but are gone`);
  return problems + orphaned;
}
