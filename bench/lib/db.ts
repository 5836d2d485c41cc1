import { recommendedIndex } from "../../src/release/delayed-job.js";
import pg from "pg";

/** A PostgreSQL server the bench may create a database on. */
export interface BenchServer {
  url: string;
  /** Where it came from, without credentials. */
  source: string;
  stop(): Promise<void>;
}

/** BENCH_DATABASE_URL, else TEST_DATABASE_URL, else an embedded PostgreSQL (scripts/test.ts). */
export async function benchServer(): Promise<BenchServer> {
  const { describeUrl, startEmbeddedPostgres } = await import("../../scripts/test.js");
  for (const name of ["BENCH_DATABASE_URL", "TEST_DATABASE_URL"] as const) {
    const url = process.env[name];
    if (url) return { url, source: `${describeUrl(url)} (from ${name})`, stop: async () => {} };
  }
  const db = await startEmbeddedPostgres();
  return { url: db.url, source: `embedded PostgreSQL on ${describeUrl(db.url)}`, stop: db.stop };
}

/** Runs fn with a connected client, always closing it. */
export async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** The URL of another database on the same server. */
export function databaseUrl(serverUrl: string, name: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Creates database `name` (dropping a leftover of the same name first) and returns a function that drops it. */
export async function createDatabase(serverUrl: string, name: string): Promise<() => Promise<void>> {
  const drop = () =>
    withClient(serverUrl, async (c) => {
      await c.query(`DROP DATABASE IF EXISTS ${c.escapeIdentifier(name)} WITH (FORCE)`);
    });
  await drop();
  await withClient(serverUrl, (c) => c.query(`CREATE DATABASE ${c.escapeIdentifier(name)}`));
  return drop;
}

/** delayed_job's table as delayed_job_active_record's migration creates it on PostgreSQL, with its one index. */
export const DELAYED_JOBS_DDL = [
  `CREATE TABLE delayed_jobs (
    id bigserial PRIMARY KEY,
    priority integer DEFAULT 0 NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    handler text NOT NULL,
    last_error text,
    run_at timestamp,
    locked_at timestamp,
    failed_at timestamp,
    locked_by character varying,
    queue character varying,
    created_at timestamp(6),
    updated_at timestamp(6)
  )`,
  `CREATE INDEX delayed_jobs_priority ON delayed_jobs (priority, run_at)`,
];

/** The index jobguard's README recommends. */
export const RECOMMENDED_INDEX = recommendedIndex(["delayed_jobs"]).replace(" CONCURRENTLY", "").replace(/;$/, "");

/** An ActiveJob job as delayed_job stores it; format() fills class, job id, queue, record id and an argument. */
const HANDLER_TEMPLATE = [
  "--- !ruby/object:ActiveJob::QueueAdapters::DelayedJobAdapter::JobWrapper",
  "job_data:",
  "  job_class: %s",
  "  job_id: %s",
  "  provider_job_id:",
  "  queue_name: %s",
  "  priority:",
  "  arguments:",
  "  - _aj_globalid: gid://shop/Order/%s",
  "  - note: %s",
  "  executions: 0",
  "  exception_executions: {}",
  "  locale: en",
  "  timezone: UTC",
  "  enqueued_at: '%s'",
  "",
].join("\n");

/**
 * Fills delayed_jobs with `rows` ActiveJob-style jobs whose YAML handlers are 1–2 KB
 * and little compressible; every 100th row is locked, in the last ten minutes, by
 * one of 20 workers on other hosts (each Heroku dyno has a hostname of its own):
 * releasing any of those would be a bug.
 */
export function fillSql(rows: number): { sql: string; params: unknown[] } {
  return {
    sql: `
WITH pool AS (SELECT string_agg(md5(i::text), '') AS s FROM generate_series(1, 200) i)
INSERT INTO delayed_jobs (priority, attempts, handler, run_at, locked_at, locked_by, queue, created_at, updated_at)
SELECT (g % 3) * 10, 0,
  format($2::text,
    (ARRAY['SendInvoiceEmailJob','SyncInventoryJob','ChargeSubscriptionJob','RebuildSearchIndexJob'])[1 + g % 4],
    md5(g::text), (ARRAY['default','mailers','billing'])[1 + g % 3], g,
    substr(p.s, 1 + ((g::bigint * 7919) % 4000)::int, 600 + (g * 31) % 1200),
    to_char(n.t - (g % 86400) * interval '1 second' - interval '1 hour', 'YYYY-MM-DD"T"HH24:MI:SS.US000"Z"')),
  n.t - (g % 86400) * interval '1 second',
  CASE WHEN g % 100 = 0 THEN n.t - (g / 100 % 600) * interval '1 second' END,
  CASE WHEN g % 100 = 0 THEN
    format('host:%s-worker.%s pid:%s', substr(md5((g / 100 % 20)::text), 1, 8), g / 100 % 20, 4 + g / 100 % 7)
  END,
  (ARRAY['default','mailers','billing'])[1 + g % 3],
  n.t - (g % 86400) * interval '1 second' - interval '1 hour', n.t - (g % 86400) * interval '1 second' - interval '1 hour'
FROM generate_series(1, $1::int) g, pool p, (SELECT now() AT TIME ZONE 'UTC' AS t) n`,
    params: [rows, HANDLER_TEMPLATE],
  };
}
