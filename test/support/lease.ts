import assert from "node:assert/strict";
import { withClient } from "../../tools/db.js";
import { freshDatabase, newJobsTable, type FreshDatabase } from "./db.js";
import { runCommand, runJobguard, type Run } from "./jobguard.js";
import { waitFor } from "./wait.js";

// What the tests of leases, sweeps and rescues share: fast leases, and the
// rows a live or a dead dyno leaves.

/**
 * Fast leases, so that a dead dyno is found within seconds: heartbeat 0.5 s,
 * stale after 10 s: 2 s more than the least a 2 s grace allows (grace + 2
 * heartbeats + 3 s, and the replication lag of 2 s for a heartbeat this short,
 * config/rescue.ts), so that a loaded machine's slow heartbeats do not trip
 * the fence, which stops a worker 7 s after a renewal confirmed 2 s before the
 * latest was sent.
 */
export const FAST = ["--deadline", "1", ...fastLeases(2)];

/** Fast leases for a grace of `graceSec` s: heartbeat 0.5 s, and 2 s more than the least stale-after that grace allows. */
export function fastLeases(graceSec: number): string[] {
  return ["--grace", String(graceSec), "--heartbeat", "0.5", "--stale-after", String(graceSec + 8)];
}
export const STALE_MS = 10_000;

export const HOUR_AGO = new Date(Date.now() - 3600_000);

/** A fresh database for a file of lease tests. */
export async function leaseTestDatabase(): Promise<FreshDatabase> {
  return freshDatabase();
}

/** A lease as a dyno that died an hour ago would have left it; its session tag is `jobguard-<id>` unless `tag` says otherwise (null: none). */
export async function insertDeadLease(
  url: string,
  leases: string,
  lease: { id: string; host: string; pids: number[]; tag?: string | null; staleAfterMs?: number },
): Promise<void> {
  await withClient(url, (c) =>
    c.query(
      `INSERT INTO ${leases} (id, host, pids, session_tag, heartbeat_ms, stale_after_ms, started_at, heartbeat_at)
       VALUES ($1, $2, $3, $4, 500, $5, now() - interval '2 hours', now() - interval '1 hour')`,
      [
        lease.id,
        lease.host,
        lease.pids,
        lease.tag === undefined ? `jobguard-${lease.id}` : lease.tag,
        lease.staleAfterMs ?? STALE_MS,
      ],
    ),
  );
}

/**
 * delayed_job with fast leases on the database `db`: a table per test
 * (`jobs_N`, its leases in `leases_jobs_N`), jobguards on it, and the rows
 * of dead dynos.
 */
export function delayedJobLeases(db: { readonly url: string }) {
  /** A new delayed_jobs table for one test. */
  async function newTable(): Promise<string> {
    return newJobsTable(db.url);
  }

  /** jobguard's settings (and the worker's) for the table. */
  function env(table: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return {
      JOBGUARD_QUEUE: "delayed_job",
      JOBGUARD_TABLE: table,
      JOBGUARD_LEASE_TABLE: `leases_${table}`,
      DATABASE_URL: db.url,
      DJ_TABLE: table,
      ...extra,
    };
  }

  /** A dyno of its own: jobguard under its own host name. */
  function dyno(name: string, table: string, command: string[], extra: NodeJS.ProcessEnv = {}): Run {
    return runJobguard([...FAST, "--", ...command], env(table, extra), { hostname: name });
  }

  /** Runs `jobguard rescue` once; its exit code and output. */
  async function rescue(table: string, extra: string[] = []): Promise<{ code: number | null; out: string }> {
    return runCommand([...FAST, ...extra, "rescue"], env(table));
  }

  /** A dead dyno's lease; first lets jobguard create its tables, as the first jobguard of a fleet would. */
  async function deadLease(
    table: string,
    lease: { id: string; host: string; pids: number[]; tag?: string | null; staleAfterMs?: number },
    createTables = true,
  ): Promise<void> {
    if (createTables) assert.equal((await rescue(table)).code, 0);
    await insertDeadLease(db.url, `leases_${table}`, lease);
  }

  /** Waits until the host's lease is written, with its session tag. */
  async function leaseShowsTag(table: string, host: string): Promise<void> {
    await waitFor(
      () =>
        withClient(
          db.url,
          async (c) =>
            (
              await c.query(`SELECT 1 FROM leases_${table} WHERE host = $1 AND session_tag IS NOT NULL`, [
                host,
              ])
            ).rowCount,
        ),
      { what: `${host}'s lease to show its session tag` },
    );
  }

  return { newTable, env, dyno, rescue, deadLease, leaseShowsTag };
}
