import type { Client } from "../../postgres/client.js";
import type { CheckHost } from "../adapter.js";
import { hasWorkerIndex, recommendedIndex } from "./sql.js";

/** One worker's locks as `jobguard check` lists them. */
interface LockedBy {
  lockedBy: string;
  jobs: number;
  ids: number[];
  since: Date;
}

/** Lists the locks by worker, marks those of this host's gone processes, and asks for the recommended index. */
export async function checkDelayedJobs(
  client: Client,
  table: readonly string[],
  jobs: string,
  host: CheckHost,
  out: (line: string) => void,
): Promise<number> {
  const locks = await listLocks(client, jobs);
  const dead = locks.filter((lock) => heldByGoneProcess(lock, host));
  out(locks.length ? "locked jobs, by worker:" : "no locked jobs");
  for (const lock of locks) {
    const ids = lock.ids.join(",") + (lock.jobs > lock.ids.length ? ",..." : "");
    const mark = dead.includes(lock) ? "  <- no such process on this host: stale lock" : "";
    out(
      `  ${lock.lockedBy}: ${lock.jobs} job${lock.jobs === 1 ? "" : "s"} (ids ${ids}) locked since ${lock.since.toISOString()}${mark}`,
    );
  }
  if (!(await hasWorkerIndex(client, jobs))) {
    out(
      "warning: no index on the worker names in locked_by: each release reads the whole table. Create one with:",
    );
    out(`  ${recommendedIndex(table)}`);
  }
  if (dead.length)
    out(`error: ${dead.length} worker name(s) of this host hold locks but their processes are gone`);
  return dead.length;
}

/** Every lock in the table, grouped by the worker that holds it. */
async function listLocks(client: Client, jobs: string): Promise<LockedBy[]> {
  const result = await client.query<{ locked_by: string; jobs: string; ids: string[]; since: Date }>(
    `SELECT locked_by, count(*) AS jobs, (array_agg(id ORDER BY id))[1:20] AS ids, min(locked_at) AS since
       FROM ${jobs}
      WHERE locked_by IS NOT NULL
      GROUP BY locked_by
      ORDER BY locked_by`,
  );
  return result.rows.map((r) => ({
    lockedBy: r.locked_by,
    jobs: Number(r.jobs),
    ids: r.ids.map(Number),
    since: r.since,
  }));
}

/** A lock named after this host whose pid no process holds. */
function heldByGoneProcess(lock: LockedBy, host: CheckHost): boolean {
  const match = /host:(.+) pid:(\d+)$/.exec(lock.lockedBy);
  return match?.[1] === host.name && !host.isRunning(Number(match[2]));
}
