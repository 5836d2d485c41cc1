import type { Client } from "../../postgres/client.js";
import type { DeadWorker, Released, RescueCounting } from "../adapter.js";
import { deadColumns, goneProcesses, releaseCounted, type DeadPid } from "./sql.js";
import type { SolidQueueTables } from "./tables.js";

/**
 * After the kill: the dead processes' claims go back to ready, with their
 * queue and priority, as Solid Queue's own release does, and their process
 * rows (and those of the processes they supervised) are deleted, in one
 * statement (one transaction), claims first: Solid Queue fails a claim whose
 * process row is missing. A worker that died on its own (no shutdown under
 * way) is counted as a rescue of its jobs (sql.ts, releaseCounted).
 */
export async function releaseDeadProcesses(
  client: Client,
  t: SolidQueueTables,
  worker: DeadWorker,
  counting?: RescueCounting,
): Promise<Released> {
  const dead: DeadPid[] = worker.dead.map((d) => ({
    host: worker.host,
    pid: d.pid,
    reusedSince: d.reusedSince,
  }));
  if (counting) return releaseCounted(client, t, dead, null, counting);
  const result = await client.query<{ id: string }>(
    `WITH dead AS (
       SELECT * FROM unnest($1::text[], $2::int[], $3::timestamptz[]) AS d(host, pid, reused_since)
     ), ${goneProcesses(t)}, dead_claims AS (
       DELETE FROM ${t.claimed} c USING gone g WHERE c.process_id = g.id RETURNING c.job_id AS id
     ), deregistered AS (
       DELETE FROM ${t.processes} p USING gone g WHERE p.id = g.id RETURNING p.id
     ), ready AS (
       INSERT INTO ${t.ready} (job_id, queue_name, priority, created_at)
       SELECT j.id, j.queue_name, j.priority, now() AT TIME ZONE 'UTC' FROM ${t.jobs} j JOIN dead_claims c ON c.id = j.id
       ON CONFLICT (job_id) DO NOTHING
       RETURNING job_id
     )
     SELECT id FROM dead_claims`,
    deadColumns(dead),
  );
  const ids = result.rows.map((r) => String(r.id));
  return { count: ids.length, ids };
}
