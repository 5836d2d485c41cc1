import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { withClient } from "../../tools/db.js";
import { createDelayedJobsTable, freshDatabase, insertJob, type FreshDatabase } from "../support/db.js";
import { requireDelayedJob, WORKER_SCRIPT } from "../support/delayed-job.js";
import { fixture, killLeftovers } from "../support/jobguard.js";
import {
  rerunUntilFinished,
  restartDuringJob,
  type Delivery,
  type MatrixWorker,
} from "../support/workers.js";

// The delayed_job row of the worker matrix (docs/workers.md), in the matrix's
// terms: Debian's delayed_job 4.1 with the pg adapter. delayed_job finishes the
// job in hand on SIGTERM; killed, it leaves the job locked for max_run_time
// (4 hours), unless jobguard releases the lock.

after(killLeftovers);

const GRACE = 9;

let db: FreshDatabase;
let dj: MatrixWorker;

before(async () => {
  db = await freshDatabase();
  await createDelayedJobsTable(db.url);
  dj = {
    command: ["ruby", "-r", fixture("delayed_job/matrix_job.rb"), WORKER_SCRIPT],
    env: { DATABASE_URL: db.url },
    jobguard: ["--queue", "delayed_job", "--deadline", "6", "--grace", String(GRACE)],
    async enqueue(label, seconds) {
      await withClient(db.url, (c) => c.query("DELETE FROM delayed_jobs")); // each test starts from an empty queue
      await insertJob(db.url, {
        handler: `--- !ruby/struct:MatrixSleepJob\nlabel: ${label}\nseconds: ${seconds}\n`,
      });
    },
    state: (label) =>
      withClient(db.url, async (c) => {
        const { rows } = await c.query<{ locked: boolean }>(
          "SELECT locked_by IS NOT NULL AS locked FROM delayed_jobs WHERE handler LIKE $1",
          [`%label: ${label}\n%`],
        );
        return rows[0] ? (rows[0].locked ? "locked" : "unlocked") : "done";
      }),
  };
});
after(() => db?.drop());

for (const guarded of [true, false]) {
  for (const delivery of ["docker", "cedar"] as Delivery[]) {
    const outcome = guarded
      ? "killed at the deadline, its lock released"
      : "SIGKILLed at the grace, the job stays locked";
    test(`delayed_job, ${guarded ? "under jobguard" : "without jobguard"}, ${delivery} stop mid-job: ${outcome}`, async (t) => {
      if (!requireDelayedJob(t)) return;
      const label = `${guarded ? "guarded" : "bare"}-${delivery}`;
      const r = await restartDuringJob(dj, { label, seconds: 60, guarded, delivery, graceS: GRACE });
      assert.deepEqual(r.survivors, []);
      if (!guarded) {
        assert.equal(r.exit.signal, "SIGKILL");
        assert.equal(r.state, "locked", "until max_run_time, 4 hours by default");
        return;
      }
      assert.equal(r.stop.sigkilledJobguard, false);
      assert.equal(r.exit.code, 124);
      assert.ok(r.tookMs < GRACE * 1000, `took ${r.tookMs} ms`);
      assert.match(r.run.stderr(), /event=locks_released queue=delayed_job jobs=1 /);
      assert.equal(r.state, "unlocked");
      const first = r.events.find((e) => e.event === "started")!;
      const rerun = await rerunUntilFinished(dj, label, r.eventsFile, first.pid);
      assert.ok(rerun.at > r.exit.at, "the job ran again only after the first worker was gone");
    });
  }
}

test("delayed_job under jobguard: a job that fits in the deadline finishes", async (t) => {
  if (!requireDelayedJob(t)) return;
  const r = await restartDuringJob(dj, {
    label: "short",
    seconds: 1,
    guarded: true,
    delivery: "docker",
    graceS: GRACE,
  });
  assert.equal(r.exit.code, 0, r.run.stderr());
  assert.deepEqual(
    r.events.map((e) => e.event),
    ["started", "finished"],
  );
  assert.equal(r.state, "done");
});
