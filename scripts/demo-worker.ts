/**
 * The demo's worker: a small Node stand-in for delayed_job's `rake jobs:work`, so
 * that `npm run demo` needs no Ruby. It locks jobs with delayed_job_active_record's
 * SQL under delayed_job's worker name, keeps working its job after SIGTERM, and
 * reports what it does as JSON lines on stdout. Environment: DATABASE_URL, DEMO_TABLE,
 * DEMO_POLL_MS (how often it looks for a job, delayed_job's sleep_delay).
 */
import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import type { Connection as Client } from "../src/postgres/client.js";
import { connect } from "../src/db/connect.js";
import { safeMessage } from "../src/db/redact.js";

/** delayed_job_active_record's reserve on PostgreSQL (timestamps are naive UTC, as ActiveRecord writes them). */
function reserveSql(table: string): string {
  const now = "(now() AT TIME ZONE 'UTC')";
  return `UPDATE ${table} SET locked_at = ${now}, locked_by = $1
    WHERE id IN (SELECT id FROM ${table}
                  WHERE ((run_at <= ${now} AND (locked_at IS NULL OR locked_at < ${now} - interval '4 hours'))
                         OR locked_by = $1)
                    AND failed_at IS NULL
                  ORDER BY priority ASC, run_at ASC
                  LIMIT 1
                  FOR UPDATE SKIP LOCKED)
    RETURNING *`;
}

/** What a worker tells the demo, one JSON line on stdout each. */
export interface WorkerEvent {
  pid: number;
  at: number;
  ev: "ready" | "locked" | "signal" | "done" | "exit";
  job?: number;
  lockedBy?: string;
  signal?: string;
}

async function runWorker(): Promise<number> {
  const url = process.env.DATABASE_URL;
  const table = process.env.DEMO_TABLE;
  const pollMs = Number(process.env.DEMO_POLL_MS ?? 1000);
  if (!url || !table) {
    process.stderr.write("demo worker: DATABASE_URL and DEMO_TABLE must be set\n");
    return 2;
  }
  const emit = (e: Omit<WorkerEvent, "pid" | "at">) =>
    process.stdout.write(`${JSON.stringify({ pid: process.pid, at: Date.now(), ...e })}\n`);
  const name = `host:${hostname()} pid:${process.pid}`; // Delayed::Worker#name
  let stopping = false;
  let current: number | undefined;
  // delayed_job on TERM/INT: stop taking jobs, but finish the one being worked.
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.on(signal, () => {
      stopping = true;
      emit({ ev: "signal", signal, job: current });
    });
  }
  const parent = process.ppid;
  let client: Client | undefined;
  try {
    // node-postgres takes application_name from PGAPPNAME, as libpq does: jobguard's tag.
    client = await connect(url, process.env);
    client.on("error", () => {}); // the query in progress fails too, and ends the loop
    emit({ ev: "ready" });
    const reserve = reserveSql(table);
    while (!stopping && process.ppid === parent) {
      const { rows } = await client.query<{ id: string; handler: string }>(reserve, [name]);
      const job = rows[0];
      if (!job) {
        await sleep(pollMs);
        continue;
      }
      current = Number(job.id);
      emit({ ev: "locked", job: current, lockedBy: name });
      await sleep(Number(/seconds: (\d+)/.exec(job.handler)?.[1] ?? 1) * 1000);
      await client.query(`DELETE FROM ${table} WHERE id = $1`, [current]); // a done job is destroyed
      emit({ ev: "done", job: current });
      current = undefined;
    }
    emit({ ev: "exit" });
    return 0;
  } catch (error) {
    // The demo dropped the table or stopped the server: an orphaned worker ends here.
    process.stderr.write(`demo worker: ${safeMessage(error, url)}\n`);
    return 1;
  } finally {
    await client?.end().catch(() => {});
  }
}

process.exit(await runWorker());
