import type { Client } from "../../src/postgres/client.js";
import { describeDatabase } from "../../src/db/redact.js";
import { recommendedIndex } from "../../src/queues/delayed-job/sql.js";
import { withClient } from "../../tools/db.js";
import { delayedJobsTableSql } from "../../tools/delayed-jobs-table.js";
import { skippedRow, type RowResult } from "./report.js";

/** A database of a row's own on the bench's PostgreSQL. */
export interface BenchDatabase {
  url: string;
  /** Where the server came from, without credentials. */
  source: string;
}

/**
 * Runs `measure` on a database of its own (dropped afterwards) on BENCH_DATABASE_URL's server,
 * else TEST_DATABASE_URL's, else an embedded PostgreSQL (tools/embedded-postgres.ts); with none, the row is skipped.
 */
export async function onBenchDatabase(
  row: { n: number; title: string; method: string },
  smoke: boolean,
  measure: (db: BenchDatabase) => Promise<RowResult>,
): Promise<RowResult> {
  let server: { url: string; source: string; stop(): Promise<void> };
  try {
    server = await benchServer();
  } catch (error) {
    return skippedRow(
      row.n,
      row.title,
      `no PostgreSQL for the bench: ${(error as Error).message.split("\n")[0]}`,
      row.method,
    );
  }
  const name = smoke ? `jobguard_bench_smoke_${process.pid}` : "jobguard_bench";
  const drop = () =>
    withClient(server.url, async (c) => {
      await c.query(`DROP DATABASE IF EXISTS ${c.escapeIdentifier(name)} WITH (FORCE)`);
    });
  try {
    await drop(); // a leftover of an interrupted run
    await withClient(server.url, (c) => c.query(`CREATE DATABASE ${c.escapeIdentifier(name)}`));
    const url = new URL(server.url);
    url.pathname = `/${name}`;
    return await measure({ url: url.toString(), source: server.source });
  } finally {
    await drop().catch(() => {});
    await server.stop();
  }
}

async function benchServer(): Promise<{ url: string; source: string; stop(): Promise<void> }> {
  // Imported only here, when no server is given.
  const { startEmbeddedPostgres } = await import("../../tools/embedded-postgres.js");
  for (const name of ["BENCH_DATABASE_URL", "TEST_DATABASE_URL"] as const) {
    const url = process.env[name];
    if (url) return { url, source: `${describeDatabase(url)} (from ${name})`, stop: async () => {} };
  }
  const db = await startEmbeddedPostgres();
  return { url: db.url, source: `embedded PostgreSQL on ${describeDatabase(db.url)}`, stop: () => db.stop() };
}

/** The index jobguard's README recommends. */
export const RECOMMENDED_INDEX = recommendedIndex(["delayed_jobs"])
  .replace(" CONCURRENTLY", "")
  .replace(/;$/, "");

/** That index's name, unquoted. */
export const RECOMMENDED_INDEX_NAME = /^CREATE INDEX "([^"]+)"/.exec(RECOMMENDED_INDEX)![1]!;

/** Creates delayed_jobs as delayed_job's migration does (only its own index) and fills it with `rows` jobs (fillSql). */
export async function fillJobs(client: Client, rows: number): Promise<void> {
  for (const ddl of delayedJobsTableSql()) await client.query(ddl);
  const fill = fillSql(rows);
  await client.query(fill.sql, fill.params);
}

/** The size of delayed_jobs, and how many of its jobs are locked. */
export async function jobsTableFacts(client: Client): Promise<{ size: string; locked: number }> {
  const r = (
    await client.query<{ size: string; locked: string }>(
      `SELECT pg_size_pretty(pg_total_relation_size('delayed_jobs')) AS size,
            count(*) FILTER (WHERE locked_by IS NOT NULL) AS locked FROM delayed_jobs`,
    )
  ).rows[0]!;
  return { size: r.size, locked: Number(r.locked) };
}
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
function fillSql(rows: number): { sql: string; params: unknown[] } {
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
