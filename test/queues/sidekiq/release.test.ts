import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { isAlive } from "../../../tools/processes.js";
import { dockerStop, killLeftovers, runJobguard, tempDir } from "../../support/jobguard.js";
import { prerequisite } from "../../support/prerequisites.js";
import {
  jobEvent,
  pushSidekiqJob,
  REDIS_HOST_URL,
  sidekiqBeatWith,
  sidekiqCommand,
  sidekiqState,
} from "../../support/redis-queues.js";
import { brokerSkipReason, commandSkipReason, readEvents, redisCli } from "../../support/workers.js";

// JOBGUARD_QUEUE=sidekiq with Debian's Sidekiq 6.4, its worker's death while
// jobguard lives: the jobs its work hash names go back to their queue once the
// tree is gone, and only then.

after(killLeftovers);

const DB = 4; // this file's own Redis database
const REDIS_URL = `${REDIS_HOST_URL}/${DB}`;

let skip: (string | null)[] = [];
before(async () => {
  skip = [
    commandSkipReason("ruby", ["-e", 'require "sidekiq"'], "apt-get install ruby-sidekiq"),
    await brokerSkipReason("Redis", 6379),
  ];
});

/** jobguard in front of Sidekiq, with the job `jid` running and seen by a heartbeat. */
async function sidekiqRunning(jid: string, args: string[] = [], timeoutS = 1) {
  redisCli(DB, "FLUSHDB");
  pushSidekiqJob(DB, jid, 60);
  const events = join(tempDir(), "events");
  const run = runJobguard(
    ["--queue", "sidekiq", "--deadline", "3", "--grace", "6", ...args, "--", ...sidekiqCommand(timeoutS)],
    { REDIS_URL, JOB_EVENTS: events },
  );
  const started = await jobEvent(events, "started", jid);
  await sidekiqBeatWith(DB, jid);
  return { run, events, started };
}

test("sidekiq SIGKILLed mid-job, jobguard alive: the job is back in its queue at once, counted, and runs to the end once more", async (t) => {
  if (!prerequisite(t, "JOBGUARD_REQUIRE_WORKERS", ...skip)) return;
  const { run, events, started } = await sidekiqRunning("oom");
  process.kill(started.pid, "SIGKILL"); // the OOM killer
  const exit = await run.exited;
  assert.equal(exit.code, 137, run.stderr());
  assert.match(
    run.stderr(),
    /event=jobs_requeued queue=sidekiq jobs=1 ids=oom rescue_counted=true pids=\S*\b/,
  );
  assert.equal(sidekiqState(DB, "oom"), "queued");
  assert.equal(redisCli(DB, "SMEMBERS", "processes"), "", "the dead process is deregistered");
  assert.equal(redisCli(DB, "GET", "jobguard:rescues:oom"), "1");

  // A new Sidekiq takes it and runs it to the end.
  const again = runJobguard(["--queue", "sidekiq", "--", ...sidekiqCommand(1)], {
    REDIS_URL,
    JOB_EVENTS: events,
  });
  const finished = await jobEvent(events, "finished", "oom", (e) => e.pid !== started.pid);
  assert.ok(finished.at > exit.at);
  await dockerStop(again, 10_000);
  assert.equal((await again.exited).code, 0, again.stderr());
  assert.equal(sidekiqState(DB, "oom"), "missing", "done once, not queued again");
  assert.equal(readEvents(events).filter((e) => e.event === "finished").length, 1);
});

test("sidekiq -t above the deadline: killed at the deadline, its job is back in the queue, not counted as a crash", async (t) => {
  if (!prerequisite(t, "JOBGUARD_REQUIRE_WORKERS", ...skip)) return;
  const { run } = await sidekiqRunning("overrun", [], 20);
  const stop = await dockerStop(run, 6000);
  assert.equal(stop.sigkilledJobguard, false);
  const exit = await run.exited;
  assert.equal(exit.code, 124, run.stderr());
  assert.match(run.stderr(), /event=deadline_exceeded/);
  assert.match(run.stderr(), /event=jobs_requeued queue=sidekiq jobs=1 ids=overrun pids=/);
  assert.doesNotMatch(run.stderr(), /rescue_counted/);
  assert.equal(sidekiqState(DB, "overrun"), "queued");
  assert.equal(redisCli(DB, "EXISTS", "jobguard:rescues:overrun"), "0");
});

test("sidekiq, a job that finishes in time, then a stop: nothing is requeued", async (t) => {
  if (!prerequisite(t, "JOBGUARD_REQUIRE_WORKERS", ...skip)) return;
  redisCli(DB, "FLUSHDB");
  pushSidekiqJob(DB, "short", 0.5);
  const events = join(tempDir(), "events");
  const run = runJobguard(
    ["--queue", "sidekiq", "--deadline", "3", "--grace", "6", "--", ...sidekiqCommand(1)],
    {
      REDIS_URL,
      JOB_EVENTS: events,
    },
  );
  await jobEvent(events, "finished", "short");
  // Let a heartbeat pass with the job done, so that the work hash is what Sidekiq leaves at its exit.
  await dockerStop(run, 6000);
  const exit = await run.exited;
  assert.equal(exit.code, 0, run.stderr());
  assert.doesNotMatch(run.stderr(), /event=jobs_requeued/);
  assert.equal(sidekiqState(DB, "short"), "missing");
  assert.equal(readEvents(events).length, 2);
});

test("sidekiq: a job whose worker dies under it more than max-rescues times goes to the dead set, naming jobguard", async (t) => {
  if (!prerequisite(t, "JOBGUARD_REQUIRE_WORKERS", ...skip)) return;
  const first = await sidekiqRunning("poison", ["--max-rescues", "1"]);
  process.kill(first.started.pid, "SIGKILL");
  await first.run.exited;
  assert.equal(sidekiqState(DB, "poison"), "queued", first.run.stderr());
  // The second crash: no FLUSHDB, the same job again.
  const events = join(tempDir(), "events");
  const run = runJobguard(["--queue", "sidekiq", "--max-rescues", "1", "--", ...sidekiqCommand(1)], {
    REDIS_URL,
    JOB_EVENTS: events,
  });
  const started = await jobEvent(events, "started", "poison");
  await sidekiqBeatWith(DB, "poison");
  process.kill(started.pid, "SIGKILL");
  assert.equal((await run.exited).code, 137);
  assert.match(
    run.stderr(),
    /event=jobs_requeued queue=sidekiq jobs=0 ids="" rescue_counted=true failed=poison/,
  );
  assert.equal(sidekiqState(DB, "poison"), "dead");
  const dead = JSON.parse(redisCli(DB, "ZRANGE", "dead", "0", "0")) as Record<string, unknown>;
  assert.equal(dead.jid, "poison");
  assert.equal(dead.error_class, "Jobguard::RescueLimitExceeded");
  assert.match(String(dead.error_message), /^jobguard: .*more than 1 times/);
  assert.ok(!isAlive(started.pid));
});

test("a Sidekiq 7 stand-in (its work hash is <identity>:work, read from lib/sidekiq/launcher.rb): the job it names is back in its queue", async (t) => {
  if (!prerequisite(t, "JOBGUARD_REQUIRE_WORKERS", ...skip)) return;
  redisCli(DB, "FLUSHDB");
  const payload = JSON.stringify({ class: "SleepJob", args: ["seven", 1], jid: "seven", queue: "default" });
  // Registers itself as Sidekiq 7's heartbeat does, under its own pid and $DYNO, then dies by SIGKILL.
  const script = [
    'id="$DYNO:$$:0123456789ab"',
    `info="{\\"hostname\\":\\"$DYNO\\",\\"pid\\":$$,\\"started_at\\":$(date +%s),\\"identity\\":\\"$id\\"}"`,
    `redis-cli -n ${DB} SADD processes "$id" >/dev/null`,
    `redis-cli -n ${DB} HSET "$id" info "$info" beat "$(date +%s)" >/dev/null`,
    `redis-cli -n ${DB} HSET "$id:work" 2xyz "$WORK" >/dev/null`,
    "kill -KILL $$",
  ].join("; ");
  const work = JSON.stringify({ queue: "default", payload, run_at: Math.floor(Date.now() / 1000) });
  const run = runJobguard(["--queue", "sidekiq", "--", "sh", "-c", script], {
    REDIS_URL,
    DYNO: "worker.7",
    WORK: work,
  });
  assert.equal((await run.exited).code, 137, run.stderr());
  assert.match(run.stderr(), /event=jobs_requeued queue=sidekiq jobs=1 ids=seven rescue_counted=true/);
  assert.equal(sidekiqState(DB, "seven"), "queued");
  assert.equal(redisCli(DB, "EXISTS", "worker.7"), "0");
  assert.equal(redisCli(DB, "SMEMBERS", "processes"), "");
});
