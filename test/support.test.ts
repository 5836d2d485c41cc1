import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { test } from "node:test";
import { createDelayedJobsTable, freshDatabase, getJob, insertJob } from "./support/db.js";
import {
  createJobEventsTable,
  getJobEvents,
  requireDelayedJob,
  sleepJobHandler,
  workerEnv,
  WORKER_SCRIPT,
} from "./support/delayed-job.js";

test("test infrastructure: fresh database, delayed_jobs table, real delayed_job worker", async (t) => {
  const db = await freshDatabase();
  t.after(() => db.drop());
  await createDelayedJobsTable(db.url);
  await createJobEventsTable(db.url);

  const id = await insertJob(db.url, { handler: sleepJobHandler(0.2, "smoke") });
  const row = await getJob(db.url, id);
  assert.equal(row?.handler, sleepJobHandler(0.2, "smoke"));
  assert.equal(row?.attempts, 0);
  assert.equal(row?.locked_by, null);
  assert.ok(row?.run_at && Math.abs(row.run_at.getTime() - Date.now()) < 60_000, "run_at stored as UTC now");

  await t.test("delayed_job worker completes a SleepJob", async (t) => {
    if (!requireDelayedJob(t)) return;
    const child = spawn("ruby", [WORKER_SCRIPT], {
      env: workerEnv(db.url, { DJ_EXIT_WHEN_EMPTY: "1" }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    clearTimeout(timer);

    assert.equal(code, 0, `worker.rb exited ${code}:\n${output}`);
    assert.equal(await getJob(db.url, id), undefined, `job row should be deleted on success:\n${output}`);
    const events = await getJobEvents(db.url, "smoke");
    assert.deepEqual(
      events.map((e) => e.event),
      ["started", "finished"],
    );
    assert.equal(events[0]!.pid, child.pid);
  });
});
