import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import PgBoss from "pg-boss";
import { withClient } from "../../tools/db.js";
import { freshDatabase, type FreshDatabase } from "../support/db.js";
import { fixture, killLeftovers } from "../support/jobguard.js";
import {
  rerunUntilFinished,
  restartDuringJob,
  type Delivery,
  type MatrixWorker,
} from "../support/workers.js";

// The pg-boss row of the worker matrix (docs/workers.md): pg-boss 10 from npm
// against the test PostgreSQL. pg-boss has no signal handlers; the app's own
// (test/fixtures/pg-boss/worker.mjs) calls stop(), which fails the jobs still
// running when its timeout ends. Killed before that, a job stays `active`
// until it expires (15 minutes).

after(killLeftovers);

const GRACE = 9;

let db: FreshDatabase;
let boss: PgBoss;
let pgboss: MatrixWorker;

before(async () => {
  db = await freshDatabase();
  boss = new PgBoss({ connectionString: db.url, supervise: false, schedule: false });
  await boss.start();
  await boss.createQueue("sleep");
  pgboss = {
    command: [process.execPath, fixture("pg-boss/worker.mjs")],
    // stop() fails the running job after 3 s: before jobguard's 6 s deadline.
    env: { DATABASE_URL: db.url, PGBOSS_STOP_TIMEOUT_MS: "3000" },
    jobguard: ["--deadline", "6", "--grace", String(GRACE)],
    async enqueue(label, seconds) {
      await withClient(db.url, (c) => c.query("DELETE FROM pgboss.job")); // each test starts from an empty queue
      await boss.send("sleep", { label, seconds }, { retryLimit: 2 });
    },
    state: (label) =>
      withClient(
        db.url,
        async (c) =>
          (
            await c.query<{ state: string }>("SELECT state FROM pgboss.job WHERE data->>'label' = $1", [
              label,
            ])
          ).rows[0]?.state ?? "missing",
      ),
  };
});
after(async () => {
  await boss?.stop({ graceful: false });
  await db?.drop();
});

for (const guarded of [true, false]) {
  for (const delivery of ["docker", "cedar"] as Delivery[]) {
    test(`pg-boss, stop() with a 3 s timeout, ${guarded ? "under jobguard" : "without jobguard"}, ${delivery} stop mid-job: the job is failed to retry`, async () => {
      const label = `${guarded ? "guarded" : "bare"}-${delivery}`;
      const r = await restartDuringJob(pgboss, { label, seconds: 60, guarded, delivery, graceS: GRACE });
      assert.equal(r.stop.sigkilledJobguard, false);
      assert.equal(r.exit.code, 0, r.run.stderr());
      assert.ok(r.tookMs < 6000, `stop() ends at its 3 s timeout; took ${r.tookMs} ms`);
      assert.deepEqual(r.survivors, []);
      assert.equal(r.state, "retry");
      const first = r.events.find((e) => e.event === "started")!;
      const rerun = await rerunUntilFinished(pgboss, label, r.eventsFile, first.pid);
      assert.ok(rerun.at > r.exit.at, "the retry ran only after the first worker was gone");
    });
  }
}

test("pg-boss under jobguard: a job that fits in the deadline finishes", async () => {
  const r = await restartDuringJob(pgboss, {
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
  assert.equal(r.state, "completed");
});

test("pg-boss whose stop() timeout outlasts jobguard's deadline: killed at the deadline, the job stays active", async () => {
  const r = await restartDuringJob(pgboss, {
    label: "late",
    seconds: 60,
    guarded: true,
    delivery: "docker",
    graceS: GRACE,
    env: { PGBOSS_STOP_TIMEOUT_MS: "20000" },
  });
  assert.equal(r.exit.code, 124);
  assert.ok(r.tookMs < GRACE * 1000);
  assert.equal(r.state, "active", "until it expires: 15 minutes by default");
});
