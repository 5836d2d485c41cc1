import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { fixture, killLeftovers } from "../support/jobguard.js";
import { prerequisite } from "../support/prerequisites.js";
import {
  brokerSkipReason,
  commandSkipReason,
  DEBIAN_PYTHON,
  python,
  redisCli,
  rerunUntilFinished,
  restartDuringJob,
  type MatrixWorker,
} from "../support/workers.js";

// The RQ row of the worker matrix (docs/workers.md): Debian's python3-rq 1.13
// against the local Redis. RQ's cold shutdown leaves a job in the
// StartedJobRegistry like a SIGKILL does; its HerokuWorker fails the job 6 s
// after a SIGTERM, so that a job with retries goes back to the queue.

after(killLeftovers);

const DB = 12; // this file's own Redis database
const URL = `redis://127.0.0.1:6379/${DB}`;
const GRACE = 19;
const RQ = ["rq", "worker", "--url", URL, "--path", fixture("rq"), "--disable-job-desc-logging"];

const rq: MatrixWorker = {
  command: [...RQ, "-w", "rq.worker.HerokuWorker", "jobguard"],
  env: {},
  // The preset's fail-safe comes 8 s before the deadline: room for HerokuWorker's
  // 6 s. And 8 s after the first SIGTERM: on a real Cedar, HerokuWorker has
  // handed the job back and exited by then, rather than take it as a cold shutdown.
  jobguard: ["--worker", "rq", "--deadline", "16", "--grace", String(GRACE)],
  enqueue(label, seconds) {
    redisCli(DB, "FLUSHDB"); // each test starts from an empty Redis
    python(fixture("rq/enqueue.py"), [URL, label, String(seconds)]);
  },
  state: (label) => python(fixture("rq/state.py"), [URL, label]),
};

let skip: (string | null)[] = [];
before(async () => {
  skip = [
    commandSkipReason(DEBIAN_PYTHON, ["-c", "import rq"], "apt-get install python3-rq"),
    await brokerSkipReason("Redis", 6379),
  ];
});

for (const guarded of [true, false]) {
  test(`rq HerokuWorker, ${guarded ? "under jobguard" : "without jobguard"}, docker stop mid-job: the job fails after 6 s and is retried`, async (t) => {
    if (!prerequisite(t, "JOBGUARD_REQUIRE_WORKERS", ...skip)) return;
    const label = `${guarded ? "guarded" : "bare"}-docker`;
    const r = await restartDuringJob(rq, { label, seconds: 60, guarded, delivery: "docker", graceS: GRACE });
    assert.equal(r.stop.sigkilledJobguard, false);
    assert.ok(r.tookMs < 10_000, `HerokuWorker ends the job after 6 s; took ${r.tookMs} ms`);
    assert.deepEqual(r.survivors, []);
    assert.equal(r.state, "queued", r.run.stderr());
    const first = r.events.find((e) => e.event === "started")!;
    const rerun = await rerunUntilFinished(rq, label, r.eventsFile, first.pid);
    assert.ok(rerun.at > r.exit.at, "the retry ran only after the first worker was gone");
  });

  for (const times of [2, 1]) {
    test(`rq HerokuWorker, ${guarded ? "under jobguard" : "without jobguard"}, cedar stop with ${times} SIGTERM round(s)`, async (t) => {
      if (!prerequisite(t, "JOBGUARD_REQUIRE_WORKERS", ...skip)) return;
      const r = await restartDuringJob(rq, {
        label: `${guarded ? "guarded" : "bare"}-cedar-${times}`,
        seconds: 60,
        guarded,
        delivery: "cedar",
        graceS: GRACE,
        times,
      });
      assert.equal(r.stop.sigkilledJobguard, false);
      assert.ok(r.tookMs < 10_000, `took ${r.tookMs} ms`);
      assert.deepEqual(r.survivors, []);
      // A second SIGTERM is RQ's cold shutdown: the horse is killed, the job abandoned
      // in the StartedJobRegistry until its timeout runs out (then retried).
      assert.equal(r.state, times === 1 ? "queued" : "started", r.run.stderr());
    });
  }
}

test("rq under jobguard: a job that fits in the deadline finishes", async (t) => {
  if (!prerequisite(t, "JOBGUARD_REQUIRE_WORKERS", ...skip)) return;
  const r = await restartDuringJob(rq, {
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
  assert.equal(r.state, "finished");
});

test("fail-safe: a Cedar-looking $DYNO, stopped like Docker: the fail-safe SIGTERM, 8 s before the deadline, lets HerokuWorker hand the job back", async (t) => {
  if (!prerequisite(t, "JOBGUARD_REQUIRE_WORKERS", ...skip)) return;
  const r = await restartDuringJob(rq, {
    label: "failsafe",
    seconds: 60,
    guarded: true,
    delivery: "docker",
    graceS: GRACE,
    env: { DYNO: "worker.1" },
  });
  assert.match(r.run.stderr(), /event=escalate signal=SIGTERM reason=failsafe-nothing-forwarded sent=true/);
  assert.doesNotMatch(r.run.stderr(), /deadline_exceeded/);
  assert.ok(r.tookMs < 16_000, `took ${r.tookMs} ms`);
  assert.equal(r.state, "queued");
});

test("rq's plain Worker under jobguard, docker stop mid-job: killed at the deadline, the job is left in the StartedJobRegistry", async (t) => {
  if (!prerequisite(t, "JOBGUARD_REQUIRE_WORKERS", ...skip)) return;
  const r = await restartDuringJob(rq, {
    label: "plain",
    seconds: 60,
    guarded: true,
    delivery: "docker",
    graceS: GRACE,
    command: [...RQ, "jobguard"],
  });
  assert.equal(r.exit.code, 124);
  assert.equal(r.state, "started");
});
