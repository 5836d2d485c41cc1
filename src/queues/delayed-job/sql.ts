import type { Client } from "../../postgres/client.js";
import { quoteTable } from "../../db/sql.js";
import type { Released, RescueCounting } from "../adapter.js";
import { released } from "../released.js";
import { rescueLimitError } from "../rescue-count.js";

// delayed_job's SQL. A worker locks a job by writing its name into locked_by:
// "<name_prefix>host:<Socket.gethostname> pid:<Process.pid>" (Delayed::Worker#name),
// with locked_at set to the time; the columns are those of delayed_job's migration.
// `jobs` is always the table's name as quoted by db/sql.ts. delayed_job writes
// locked_at in UTC without a zone, hence the conversions.

/**
 * The worker's name in locked_by without the prefix script/delayed_job may give it
 * ("delayed_job.0 host:h pid:1" -> "host:h pid:1"): from its first "host:" on,
 * since a host name has no colon. A prefix that itself held "host:" would only
 * make a lock unmatched, never match another worker's. Every statement compares
 * names whole (so "pid:12" never matches "pid:123") through this expression as
 * written here, which the recommended index is on, so that it serves them all.
 */
export const WORKER_NAME = "substring(locked_by from position('host:' in locked_by))";

/** The index jobguard's README recommends: it makes the release a seek rather than a read of every locked row. */
export function recommendedIndex(table: readonly string[]): string {
  const name = quoteTable([`${table[table.length - 1]}_jobguard_worker`]);
  return `CREATE INDEX CONCURRENTLY ${name} ON ${quoteTable(table)} ((${WORKER_NAME})) WHERE locked_by IS NOT NULL;`;
}

/**
 * True when the table has an index the name lookups can seek in: a valid
 * btree (a CREATE INDEX CONCURRENTLY that failed leaves an invalid one, which
 * no plan uses) whose first column is WORKER_NAME and whose predicate, if
 * any, is no narrower than `locked_by IS NOT NULL`. The expression is
 * compared as the server prints it back. Anything else says no: a narrower
 * predicate (`... AND failed_at IS NULL`) is one the lookups cannot use, and
 * a seek a name on an index they cannot use would be a read of the whole
 * table a name; the join that reads it once is then the faster plan.
 */
export async function hasWorkerIndex(client: Client, jobs: string): Promise<boolean> {
  const result = await client.query<{ indexed: boolean }>(
    `SELECT EXISTS (
       SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
        WHERE i.indrelid = $1::regclass AND i.indisvalid AND i.indisready AND a.amname = 'btree'
          AND pg_get_indexdef(i.indexrelid, 1, true) ~* $2
          AND (i.indpred IS NULL OR pg_get_expr(i.indpred, i.indrelid, true) ~* $3)
     ) AS indexed`,
    [jobs, WORKER_NAME_PRINTED, String.raw`^\(?locked_by IS NOT NULL\)?$`],
  );
  return result.rows[0]!.indexed;
}

// WORKER_NAME as pg_get_indexdef prints it: `SUBSTRING(locked_by FROM
// POSITION(('host:'::text) IN (locked_by)))` (PostgreSQL 15 and 18 seen, text
// and varchar columns alike), or in the function-call form of older servers,
// `"substring"(locked_by, "position"(locked_by, 'host:'::text))` (not seen
// here). A server that prints it otherwise gets the join, and `check`'s warning.
const WORKER_NAME_PRINTED = String.raw`^(substring\(locked_by from position\(\('host:'::text\) in \(locked_by\)\)\)|"substring"\(locked_by, "position"\(locked_by, 'host:'::text\)\))$`;

/** A dead process by its worker name; reusedSince (Date.now() terms): when a newer process took its pid, if one did. */
export interface DeadName {
  name: string;
  reusedSince?: number;
}

/** The statements' dead(name, reused_since) columns for these dead processes. */
export function deadColumns(dead: readonly DeadName[]): [string[], (string | null)[]] {
  return [
    dead.map((d) => d.name),
    dead.map((d) => (d.reusedSince === undefined ? null : new Date(d.reusedSince).toISOString())),
  ];
}

/**
 * The counted release, after a crash and in a sweep: hands back the locks of
 * these dead processes and counts a rescue for each job, which goes back in
 * the queue, or is marked failed once it has been rescued more than
 * max-rescues times. A lock is theirs when it is under one of their names and
 * was taken before a newer process took the pid, if one did; with
 * olderThanMs (a sweep), only if it is at least that old, since a lock taken
 * after the lease's last heartbeat shows the worker was alive then.
 * How the claims are found depends on `seek`, whether the table has the
 * recommended index (hasWorkerIndex). With it, each name is looked up on its
 * own (LATERAL): one seek a name, whatever the number of locked rows; the
 * FOR UPDATE inside the lookup keeps the planner from merging it into a
 * plain join, which it would answer by reading every locked row (the whole
 * partial index, and a heap page a row): it has no statistics for the
 * expression of a partial index, so it guesses each seek at 0.5% of the
 * table, a guess that would also have it JIT-compile the statement first
 * (a transaction that runs it on a large table turns JIT off, db/sql.ts).
 * Without the index, a lookup a name would be a read of the whole table a
 * name: a join with the names then reads it once. Not `name = ANY(names)`:
 * given hundreds of names, the planner estimates the ANY high and reads the
 * whole table even with the index.
 *
 * One name may come twice: two dead leases of one host name may both list
 * a pid (two pid namespaces, a dyno that died twice within a sweep), and a
 * job claimed under it is found once for each. It is counted once: an
 * INSERT ... ON CONFLICT that met one key twice would fail, and with it the
 * sweep, every time, for every lease.
 */
export async function releaseCounted(
  client: Client,
  jobs: string,
  jobTable: string,
  dead: readonly DeadName[],
  olderThanMs: number | null,
  counting: RescueCounting,
  seek = false,
): Promise<Released> {
  const deadClaims = seek
    ? `SELECT claim.id FROM unnest($1::text[], $2::timestamptz[]) AS dead(name, reused_since)
        CROSS JOIN LATERAL (
          SELECT j.id FROM ${jobs} j
           WHERE j.locked_by IS NOT NULL AND ${WORKER_NAME} = dead.name
             AND (dead.reused_since IS NULL OR j.locked_at < dead.reused_since AT TIME ZONE 'UTC')
             AND ($3::float8 IS NULL OR j.locked_at < (now() AT TIME ZONE 'UTC') - $3 * interval '1 millisecond')
             FOR UPDATE OF j
        ) claim`
    : `SELECT j.id FROM unnest($1::text[], $2::timestamptz[]) AS dead(name, reused_since)
         JOIN ${jobs} j ON j.locked_by IS NOT NULL AND ${WORKER_NAME} = dead.name
        WHERE (dead.reused_since IS NULL OR j.locked_at < dead.reused_since AT TIME ZONE 'UTC')
          AND ($3::float8 IS NULL OR j.locked_at < (now() AT TIME ZONE 'UTC') - $3 * interval '1 millisecond')
        FOR UPDATE OF j`;
  const result = await client.query<{ id: string; failed: boolean }>(
    `WITH dead_claims AS (
       ${deadClaims}
     ), counted AS (
       INSERT INTO ${counting.countsTable} AS r (job_table, job_id, rescues)
       SELECT $4, id, 1 FROM (SELECT DISTINCT id FROM dead_claims) claims
       ON CONFLICT (job_table, job_id) DO UPDATE SET rescues = r.rescues + 1, last_rescued_at = now()
       RETURNING job_id, rescues
     )
     UPDATE ${jobs} j
        SET locked_by = NULL, locked_at = NULL,
            failed_at = CASE WHEN c.rescues > $5 THEN now() AT TIME ZONE 'UTC' ELSE j.failed_at END,
            last_error = CASE WHEN c.rescues > $5 THEN $6 || ' (last worker: ' || j.locked_by || ')' ELSE j.last_error END
       FROM counted c
      WHERE j.id = c.job_id
     RETURNING j.id, c.rescues > $5 AS failed`,
    [...deadColumns(dead), olderThanMs, jobTable, counting.maxRescues, rescueLimitError(counting.maxRescues)],
  );
  return released(result.rows);
}
