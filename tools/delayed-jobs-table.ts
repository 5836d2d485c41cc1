import { quoteTable } from "../src/db/sql.js";

/**
 * delayed_job's table as delayed_job_active_record's migration template creates
 * it on PostgreSQL (ActiveRecord 6.1), with its one index: the demo, the tests
 * and the benchmarks all build their queues from this.
 */
export function delayedJobsTableSql(table = "delayed_jobs"): string[] {
  const name = quoteTable([table]);
  return [
    `CREATE TABLE ${name} (
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
    `CREATE INDEX ${quoteTable([`${table}_priority`])} ON ${name} (priority, run_at)`,
  ];
}
