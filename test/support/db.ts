import { randomBytes } from "node:crypto";
import { after, before } from "node:test";
import { withClient } from "../../tools/db.js";
import { delayedJobsTableSql } from "../../tools/delayed-jobs-table.js";

/** A throwaway database on the test server; `drop()` removes it (terminating leftover connections). */
export interface FreshDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** One delayed_jobs row; timestamp columns are converted from UTC (as ActiveRecord writes them) to Dates. */
export interface DelayedJobRow {
  id: number;
  priority: number;
  attempts: number;
  handler: string;
  last_error: string | null;
  run_at: Date | null;
  locked_at: Date | null;
  failed_at: Date | null;
  locked_by: string | null;
  queue: string | null;
  created_at: Date | null;
  updated_at: Date | null;
}

/** Options for insertJob; timestamps default to now, lockedAt defaults to now when lockedBy is given. */
export interface InsertJobOptions {
  handler: string;
  lockedBy?: string;
  lockedAt?: Date;
  runAt?: Date;
  priority?: number;
  queue?: string;
  table?: string;
}

/** Returns TEST_DATABASE_URL, or throws explaining that tests must run through `npm test`. */
export function testServerUrl(): string {
  const url = process.env.TEST_DATABASE_URL;
  if (!url) {
    throw new Error(
      "TEST_DATABASE_URL is not set; run tests via `npm test` (scripts/test.ts provides a database)",
    );
  }
  return url;
}

/** Creates a uniquely named database on the TEST_DATABASE_URL server, isolating parallel test files. */
export async function freshDatabase(): Promise<FreshDatabase> {
  const server = testServerUrl();
  const name = `jobguard_test_${process.pid}_${Date.now().toString(36)}_${randomBytes(3).toString("hex")}`;
  await withClient(server, (c) => c.query(`CREATE DATABASE ${c.escapeIdentifier(name)}`));
  const url = new URL(server);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: () =>
      withClient(server, async (c) => {
        await c.query(`DROP DATABASE IF EXISTS ${c.escapeIdentifier(name)} WITH (FORCE)`);
      }),
  };
}

/**
 * This test file's own database, made by `create` (a fresh one by default)
 * and given its tables by `setup`, in one before() hook (top-level hooks do not
 * wait for each other), and dropped after the file's last test. Call it at the
 * top of the file; its url can be read once the tests run.
 */
export function fileDatabase({
  create = freshDatabase,
  setup,
}: {
  create?: () => Promise<FreshDatabase>;
  setup?: (url: string) => Promise<void>;
} = {}): FreshDatabase {
  let db: FreshDatabase | undefined;
  before(async () => {
    db = await create();
    await setup?.(db.url);
  });
  after(async () => db?.drop());
  const made = (): FreshDatabase => {
    if (!db) throw new Error("the test file's database is made in its before() hook");
    return db;
  };
  return {
    get url() {
      return made().url;
    },
    get name() {
      return made().name;
    },
    drop: () => made().drop(),
  };
}

/** Creates delayed_job's table as its migration does (tools/delayed-jobs-table.ts). */
export async function createDelayedJobsTable(url: string, table = "delayed_jobs"): Promise<void> {
  await withClient(url, async (c) => {
    for (const statement of delayedJobsTableSql(table)) await c.query(statement);
  });
}

let tables = 0;

/** A delayed_jobs table of its own for one test: jobs_1, jobs_2, ... in this test file's process. */
export async function newJobsTable(url: string): Promise<string> {
  const table = `jobs_${++tables}`;
  await createDelayedJobsTable(url, table);
  return table;
}

/** Inserts a job row (timestamps stored as naive UTC, like ActiveRecord) and returns its id. */
export async function insertJob(url: string, opts: InsertJobOptions): Promise<number> {
  const lockedAt = opts.lockedAt ?? (opts.lockedBy !== undefined ? new Date() : null);
  const runAt = opts.runAt ?? new Date();
  return withClient(url, async (c) => {
    const res = await c.query<{ id: string }>(
      `INSERT INTO ${c.escapeIdentifier(opts.table ?? "delayed_jobs")}
         (priority, handler, run_at, locked_at, locked_by, queue, created_at, updated_at)
       VALUES ($1, $2, $3::timestamptz AT TIME ZONE 'UTC', $4::timestamptz AT TIME ZONE 'UTC', $5, $6,
               now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')
       RETURNING id`,
      [
        opts.priority ?? 0,
        opts.handler,
        runAt.toISOString(),
        lockedAt?.toISOString() ?? null,
        opts.lockedBy ?? null,
        opts.queue ?? null,
      ],
    );
    return Number(res.rows[0]!.id);
  });
}

/** Returns the job row with `id`, or undefined when it no longer exists (e.g. completed). */
export async function getJob(
  url: string,
  id: number,
  table = "delayed_jobs",
): Promise<DelayedJobRow | undefined> {
  return withClient(url, async (c) => {
    const utc = (col: string) => `${col} AT TIME ZONE 'UTC' AS ${col}`;
    const res = await c.query<DelayedJobRow & { id: string }>(
      `SELECT id, priority, attempts, handler, last_error, locked_by, queue,
              ${["run_at", "locked_at", "failed_at", "created_at", "updated_at"].map(utc).join(", ")}
         FROM ${c.escapeIdentifier(table)} WHERE id = $1`,
      [id],
    );
    const row = res.rows[0];
    return row && { ...row, id: Number(row.id) };
  });
}
