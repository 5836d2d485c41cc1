import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { fixture, killLeftovers } from "../support/jobguard.js";
import { prerequisite } from "../support/prerequisites.js";
import {
  brokerSkipReason,
  commandSkipReason,
  redisCli,
  rerunUntilFinished,
  restartDuringJob,
  type Delivery,
  type MatrixWorker,
} from "../support/workers.js";

// The Sidekiq row of the worker matrix (docs/workers.md): Debian's ruby-sidekiq
// 6.4 against the local Redis. Sidekiq requeues its unfinished jobs itself when
// its -t timeout runs out; jobguard's deadline must leave it the room to.

after(killLeftovers);

const DB = 11; // this file's own Redis database
const GRACE = 9;
const SIDEKIQ = ["sidekiq", "-r", fixture("sidekiq/jobs.rb"), "-c", "1"];

const sidekiq: MatrixWorker = {
  command: [...SIDEKIQ, "-t", "2"],
  env: { REDIS_URL: `redis://127.0.0.1:6379/${DB}` },
  jobguard: ["--worker", "sidekiq", "--deadline", "6", "--grace", String(GRACE)],
  enqueue(label, seconds) {
    redisCli(DB, "FLUSHDB"); // each test starts from an empty Redis
    const now = Date.now() / 1000;
    const job = {
      class: "SleepJob",
      args: [label, seconds],
      jid: label,
      queue: "default",
      retry: true,
      created_at: now,
      enqueued_at: now,
    };
    redisCli(DB, "SADD", "queues", "default");
    redisCli(DB, "LPUSH", "queue:default", JSON.stringify(job));
  },
  state(label) {
    const has = (lines: string) => lines.includes(`"jid":"${label}"`);
    if (has(redisCli(DB, "LRANGE", "queue:default", "0", "-1"))) return "queued";
    if (has(redisCli(DB, "ZRANGE", "retry", "0", "-1"))) return "retry";
    return "missing";
  },
};

let skip: (string | null)[] = [];
before(async () => {
  skip = [
    commandSkipReason("ruby", ["-e", 'require "sidekiq"'], "apt-get install ruby-sidekiq"),
    await brokerSkipReason("Redis", 6379),
  ];
});

for (const guarded of [true, false]) {
  for (const delivery of ["docker", "cedar"] as Delivery[]) {
    test(`sidekiq -t 2, ${guarded ? "under jobguard" : "without jobguard"}, ${delivery} stop mid-job: Sidekiq requeues the job itself`, async (t) => {
      if (!prerequisite(t, "JOBGUARD_REQUIRE_WORKERS", ...skip)) return;
      const label = `${guarded ? "guarded" : "bare"}-${delivery}`;
      const r = await restartDuringJob(sidekiq, { label, seconds: 60, guarded, delivery, graceS: GRACE });
      assert.equal(r.stop.sigkilledJobguard, false, "the platform had to SIGKILL");
      assert.equal(r.exit.code, 0, r.run.stderr());
      assert.ok(r.tookMs < GRACE * 1000, `took ${r.tookMs} ms`);
      assert.deepEqual(r.survivors, []);
      assert.equal(r.state, "queued");
      if (guarded)
        assert.match(r.run.stderr(), /forward=always forward_sigterm=true reason=always worker=sidekiq/);
      const first = r.events.find((e) => e.event === "started")!;
      assert.ok(!r.events.some((e) => e.event === "finished"), "the interrupted run must not finish");
      const rerun = await rerunUntilFinished(sidekiq, label, r.eventsFile, first.pid);
      assert.ok(rerun.at > r.exit.at, "the job ran again only after the first worker was gone");
    });
  }
}

test("sidekiq under jobguard: a job that fits in the deadline finishes, and Sidekiq exits 0", async (t) => {
  if (!prerequisite(t, "JOBGUARD_REQUIRE_WORKERS", ...skip)) return;
  const r = await restartDuringJob(sidekiq, {
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
  assert.equal(r.state, "missing", "done, so no longer in Redis");
  assert.doesNotMatch(r.run.stderr(), /deadline_exceeded|event=escalate/);
});

test("fail-safe: a Cedar-looking $DYNO with forward=auto, stopped like Docker: the worker still gets SIGTERM and requeues", async (t) => {
  if (!prerequisite(t, "JOBGUARD_REQUIRE_WORKERS", ...skip)) return;
  const r = await restartDuringJob(sidekiq, {
    label: "failsafe",
    seconds: 60,
    guarded: true,
    delivery: "docker",
    graceS: GRACE,
    env: { DYNO: "worker.1", JOBGUARD_FORWARD: "auto" },
  });
  assert.match(r.run.stderr(), /forward_sigterm=false reason=heroku-cedar-signals-every-process/);
  assert.match(r.run.stderr(), /event=escalate signal=SIGTERM reason=failsafe-nothing-forwarded sent=true/);
  assert.equal(r.exit.code, 0, r.run.stderr());
  assert.ok(r.tookMs < 6000, `Sidekiq requeued before the deadline; took ${r.tookMs} ms`);
  assert.equal(r.state, "queued");
});

test("without the fail-safe (forward=never), stopped like Docker: Sidekiq never hears SIGTERM and its job is lost", async (t) => {
  if (!prerequisite(t, "JOBGUARD_REQUIRE_WORKERS", ...skip)) return;
  const r = await restartDuringJob(sidekiq, {
    label: "deaf",
    seconds: 60,
    guarded: true,
    delivery: "docker",
    graceS: GRACE,
    env: { JOBGUARD_FORWARD: "never" },
  });
  assert.equal(r.exit.code, 124, "killed at the deadline");
  assert.equal(r.state, "missing", "basic fetch had taken the job out of Redis");
});

test("sidekiq -t 8 past jobguard's 6 s deadline: killed before its requeue, the job is lost", async (t) => {
  if (!prerequisite(t, "JOBGUARD_REQUIRE_WORKERS", ...skip)) return;
  const r = await restartDuringJob(sidekiq, {
    label: "late",
    seconds: 60,
    guarded: true,
    delivery: "docker",
    graceS: GRACE,
    command: [...SIDEKIQ, "-t", "8"],
  });
  assert.equal(r.exit.code, 124);
  assert.ok(r.tookMs < GRACE * 1000);
  assert.equal(r.state, "missing");
});
