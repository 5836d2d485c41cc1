import type { Client } from "pg";
import type { DeadProcess } from "../../process-tree/tree-history.js";
import { quoteTable } from "../../db/sql.js";

// delayed_job's SQL. A worker locks a job by writing its name into locked_by:
// "<name_prefix>host:<Socket.gethostname> pid:<Process.pid>" (Delayed::Worker#name),
// with locked_at set to the time; the columns are those of delayed_job's migration.
// `jobs` is always the table's name as quoted by db/sql.ts.

/** delayed_job's worker names for these pids on a host, without the optional prefix. */
export function workerNames(host: string, pids: readonly number[]): string[] {
  return pids.map((pid) => `host:${host} pid:${pid}`);
}

// The worker's name without the prefix script/delayed_job may give it
// ("delayed_job.0 host:h pid:1" -> "host:h pid:1"): from its first "host:" on,
// since a host name has no colon. A prefix that itself held "host:" would only
// make a lock unmatched, never match another worker's.
const WORKER = "substring(locked_by from position('host:' in locked_by))";

/** The same expression on a table alias, for joins (it must match the recommended index's). */
export function workerOf(alias: string): string {
  return `substring(${alias}.locked_by from position('host:' in ${alias}.locked_by))`;
}

/**
 * The SQL condition "locked under one of the names in `names`" (an SQL
 * text[] expression). Names are compared whole, so "pid:12" never matches
 * "pid:123", and the recommended index turns the lookup into a seek.
 */
export function lockedUnder(names: string): string {
  return `locked_by IS NOT NULL AND ${WORKER} = ANY(${names})`;
}

// The dead processes of a release, as rows dead(name, reused_since): $1 their
// names, $2 when a newer process took each pid, if one did (see deadParams).
export const DEAD_PROCESSES = "unnest($1::text[], $2::timestamptz[]) AS dead(name, reused_since)";

// A lock one of them holds: under its name, and taken before a newer process
// took its pid. delayed_job writes locked_at in UTC without a zone, hence the
// conversion.
export const HELD_BY_DEAD = `locked_by IS NOT NULL AND ${WORKER} = dead.name
        AND (dead.reused_since IS NULL OR locked_at < dead.reused_since AT TIME ZONE 'UTC')`;

/** The parameters $1 and $2 of DEAD_PROCESSES for these dead processes of this host. */
export function deadParams(
  host: string,
  dead: readonly Pick<DeadProcess, "pid" | "reusedSince">[],
): [string[], (string | null)[]] {
  return [
    workerNames(
      host,
      dead.map((d) => d.pid),
    ),
    dead.map((d) => (d.reusedSince === undefined ? null : new Date(d.reusedSince).toISOString())),
  ];
}

/**
 * Unlocks the jobs that these dead processes of this host had locked. A job
 * another worker has locked since carries that worker's name and is left
 * alone; so is a lock under a pid that a newer process took, if taken after
 * that process started. attempts and run_at stay as they are, so the job runs
 * again at once.
 */
export async function releaseDelayedJobs(
  client: Client,
  jobs: string,
  host: string,
  dead: readonly Pick<DeadProcess, "pid" | "reusedSince">[],
): Promise<string[]> {
  const result = await client.query<{ id: string }>(
    `UPDATE ${jobs} SET locked_at = NULL, locked_by = NULL
       FROM ${DEAD_PROCESSES} WHERE ${HELD_BY_DEAD}
      RETURNING id`,
    deadParams(host, dead),
  );
  return result.rows.map((row) => String(row.id));
}

/** Of these names, those under which a lock is held (a seek per name with the recommended index). */
export async function namesHoldingLocks(
  client: Client,
  jobs: string,
  names: readonly string[],
): Promise<Set<string>> {
  const result = await client.query<{ name: string }>(
    `SELECT dead.name FROM unnest($1::text[]) AS dead(name)
      WHERE EXISTS (SELECT 1 FROM ${jobs} WHERE locked_by IS NOT NULL AND ${WORKER} = dead.name)`,
    [names],
  );
  return new Set(result.rows.map((row) => row.name));
}

/** The index jobguard's README recommends: it makes the release a seek rather than a read of every locked row. */
export function recommendedIndex(table: readonly string[]): string {
  const name = quoteTable([`${table[table.length - 1]}_jobguard_worker`]);
  return `CREATE INDEX CONCURRENTLY ${name} ON ${quoteTable(table)} ((${WORKER})) WHERE locked_by IS NOT NULL;`;
}

/** True when the table has an index on the worker-name expression. */
export async function hasWorkerIndex(client: Client, jobs: string): Promise<boolean> {
  const result = await client.query(
    `SELECT 1 FROM pg_index
      WHERE indrelid = $1::regclass AND indexprs IS NOT NULL
        AND pg_get_indexdef(indexrelid) ILIKE '%position%host:%locked_by%'`,
    [jobs],
  );
  return (result.rowCount ?? 0) > 0;
}
