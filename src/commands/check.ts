import { hostname } from "node:os";
import type { QueueConfig } from "../config/config.js";
import { isDead, readProcess } from "../process-tree/proc.js";
import { describeDatabase, safeMessage } from "../release/connect.js";
import { connectAsJobguard } from "../release/database.js";
import { prepareCustomRelease } from "../release/custom-sql.js";
import { hasWorkerIndex, listLocks, recommendedIndex, type LockedBy } from "../release/delayed-job.js";

const CONNECT_TIMEOUT_MS = 10_000;

/**
 * `jobguard check`: is the configuration sound and the database reachable, and
 * which jobs are locked by whom? Meant for a release phase or a human. Exits 0
 * when all is well, 1 when something needs attention.
 */
export async function check(queue: QueueConfig | undefined, env: NodeJS.ProcessEnv): Promise<number> {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  if (!queue) {
    out("jobguard check: no queue configured (JOBGUARD_QUEUE): jobguard supervises only and never touches a database");
    return 0;
  }
  const database = describeDatabase(queue.databaseUrl);
  out(`jobguard check: queue=${queue.kind} database=${database}${queue.kind === "delayed_job" ? ` table=${queue.table.join(".")}` : ""}`);
  let client;
  try {
    client = await connectAsJobguard(queue.databaseUrl, env, CONNECT_TIMEOUT_MS);
  } catch (error) {
    out(`error: cannot connect to ${database}: ${safeMessage(error, queue.databaseUrl)}`);
    return 1;
  }
  try {
    if (queue.kind === "sql") {
      await prepareCustomRelease(client, queue.releaseSql!);
      out("release statement: prepared without error");
      return 0;
    }
    const locks = await listLocks(client, queue.table);
    const dead = locks.filter(heldByGoneProcess);
    out(locks.length ? "locked jobs, by worker:" : "no locked jobs");
    for (const lock of locks) {
      const ids = lock.ids.join(",") + (lock.jobs > lock.ids.length ? ",..." : "");
      const mark = dead.includes(lock) ? "  <- no such process on this host: stale lock" : "";
      out(`  ${lock.lockedBy}: ${lock.jobs} job${lock.jobs === 1 ? "" : "s"} (ids ${ids}) locked since ${lock.since.toISOString()}${mark}`);
    }
    if (!(await hasWorkerIndex(client, queue.table))) {
      out("warning: no index on the worker names in locked_by: each release reads the whole table. Create one with:");
      out(`  ${recommendedIndex(queue.table)}`);
    }
    if (dead.length) out(`error: ${dead.length} worker name(s) of this host hold locks but their processes are gone`);
    return dead.length ? 1 : 0;
  } catch (error) {
    out(`error: ${safeMessage(error, queue.databaseUrl)}`);
    return 1;
  } finally {
    await client.end().catch(() => {});
  }
}

/** A lock named after this host whose pid no process holds. */
function heldByGoneProcess(lock: LockedBy): boolean {
  const match = /host:(.+) pid:(\d+)$/.exec(lock.lockedBy);
  if (!match || match[1] !== hostname()) return false;
  const process = readProcess(Number(match[2]));
  return process === undefined || isDead(process);
}
