import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { withClient } from "../../tools/db.js";
import { REPO_ROOT } from "../../tools/repo.js";
import { freshDatabase, type FreshDatabase } from "../support/db.js";
import { fixture, killLeftovers } from "../support/jobguard.js";
import {
  rerunUntilFinished,
  restartDuringJob,
  type Delivery,
  type MatrixWorker,
} from "../support/workers.js";

// The graphile-worker row of the worker matrix (docs/workers.md): the npm
// package's own CLI against the test PostgreSQL. Its first signal waits for
// running jobs; a second one, 5 s or more later, fails them and clears their
// locks. Killed without that, a job stays locked for 4 hours.

after(killLeftovers);

const GRACE = 12;
const GRAPHILE_WORKER = [
  join(REPO_ROOT, "node_modules/.bin/graphile-worker"),
  "-C",
  fixture("graphile-worker/graphile.config.js"),
];

let db: FreshDatabase;
let graphile: MatrixWorker;

before(async () => {
  db = await freshDatabase();
  const schema = spawnSync(GRAPHILE_WORKER[0]!, [...GRAPHILE_WORKER.slice(1), "--schema-only"], {
    env: { ...process.env, DATABASE_URL: db.url },
    encoding: "utf8",
  });
  assert.equal(schema.status, 0, schema.stderr);
  graphile = {
    command: GRAPHILE_WORKER,
    env: { DATABASE_URL: db.url },
    // The escalation at 7 s: graphile-worker ignores a second signal for 5 s after the first.
    jobguard: [
      "--worker",
      "graphile-worker",
      "--deadline",
      "9",
      "--escalate-before",
      "2",
      "--grace",
      String(GRACE),
    ],
    enqueue: (label, seconds) =>
      withClient(db.url, async (c) => {
        await c.query("DELETE FROM graphile_worker._private_jobs"); // each test starts from an empty queue
        await c.query(
          "SELECT graphile_worker.add_job('sleep_job', json_build_object('label', $1::text, 'seconds', $2::float))",
          [label, seconds],
        );
      }),
    state: (label) =>
      withClient(db.url, async (c) => {
        const { rows } = await c.query<{ locked: boolean; failed: boolean; attempts: number }>(
          "SELECT locked_by IS NOT NULL AS locked, last_error IS NOT NULL AS failed, attempts FROM graphile_worker._private_jobs WHERE payload->>'label' = $1",
          [label],
        );
        const job = rows[0];
        if (!job) return "done";
        if (job.locked) return "locked";
        return job.failed ? `retry attempts=${job.attempts}` : "queued";
      }),
  };
});
after(() => db?.drop());

for (const delivery of ["docker", "cedar"] as Delivery[]) {
  test(`graphile-worker under jobguard, ${delivery} stop mid-job: the escalation fails the job, unlocked for a retry`, async () => {
    const label = `guarded-${delivery}`;
    const r = await restartDuringJob(graphile, {
      label,
      seconds: 60,
      guarded: true,
      delivery,
      graceS: GRACE,
    });
    assert.equal(r.stop.sigkilledJobguard, false);
    assert.match(r.run.stderr(), /event=escalate signal=SIGINT reason=graphile-worker-last-step sent=true/);
    assert.match(r.run.stderr(), /Received 'SIGINT'; attempting global forceful shutdown/);
    assert.doesNotMatch(
      r.run.stderr(),
      /deadline_exceeded/,
      "graphile-worker exited on its own after the escalation",
    );
    assert.equal(r.exit.code, 130, "graphile-worker re-raises the SIGINT");
    assert.ok(r.tookMs < 9000, `took ${r.tookMs} ms`);
    assert.deepEqual(r.survivors, []);
    assert.equal(r.state, "retry attempts=1");
    const first = r.events.find((e) => e.event === "started")!;
    const rerun = await rerunUntilFinished(graphile, label, r.eventsFile, first.pid);
    assert.ok(rerun.at > r.exit.at, "the retry ran only after the first worker was gone");
  });

  test(`graphile-worker without jobguard, ${delivery} stop mid-job: SIGKILLed at the grace, the job stays locked`, async () => {
    const r = await restartDuringJob(graphile, {
      label: `bare-${delivery}`,
      seconds: 60,
      guarded: false,
      delivery,
      graceS: GRACE,
    });
    assert.equal(r.exit.signal, "SIGKILL", r.run.stderr());
    assert.equal(r.state, "locked", "locked until graphile-worker's 4-hour sweep");
  });
}

test("graphile-worker under jobguard: a job that fits in the deadline finishes", async () => {
  const r = await restartDuringJob(graphile, {
    label: "short",
    seconds: 1,
    guarded: true,
    delivery: "docker",
    graceS: GRACE,
  });
  assert.deepEqual(
    r.events.map((e) => e.event),
    ["started", "finished"],
  );
  assert.equal(r.exit.code, 143, "graphile-worker re-raises the SIGTERM once done");
  assert.equal(r.state, "done");
  assert.doesNotMatch(r.run.stderr(), /deadline_exceeded|event=escalate/);
});

test("graphile-worker 0.17.3 with its default settings: a job that finishes during the graceful shutdown stays locked", async () => {
  const r = await restartDuringJob(graphile, {
    label: "unrecorded",
    seconds: 1,
    guarded: true,
    delivery: "docker",
    graceS: GRACE,
    env: { JOBGUARD_TEST_GRAPHILE_DEFAULTS: "1" },
  });
  assert.deepEqual(
    r.events.map((e) => e.event),
    ["started", "finished"],
  );
  assert.equal(r.exit.code, 143);
  assert.equal(r.state, "locked", "the completion was never written: completeJobBatchDelay 0 fixes it");
});
