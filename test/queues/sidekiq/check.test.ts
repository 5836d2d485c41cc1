import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { killLeftovers, runCommand, tempDir } from "../../support/jobguard.js";
import { prerequisite } from "../../support/prerequisites.js";
import {
  jobEvent,
  pushSidekiqJob,
  REDIS_HOST_URL,
  sidekiqBeatWith,
  sidekiqCommand,
} from "../../support/redis-queues.js";
import { brokerSkipReason, commandSkipReason, redisCli, runBare } from "../../support/workers.js";

// `jobguard check` with JOBGUARD_QUEUE=sidekiq: the jobs in flight by process,
// those of this host's gone processes marked, exit 1 when some need attention.

after(killLeftovers);

const DB = 6; // this file's own Redis database
const REDIS_URL = `${REDIS_HOST_URL}/${DB}`;

let skip: (string | null)[] = [];
before(async () => {
  skip = [
    commandSkipReason("ruby", ["-e", 'require "sidekiq"'], "apt-get install ruby-sidekiq"),
    await brokerSkipReason("Redis", 6379),
  ];
});

test("check lists a live Sidekiq's job in flight (exit 0), and marks it once its process is SIGKILLed without jobguard (exit 1)", async (t) => {
  if (!prerequisite(t, "JOBGUARD_REQUIRE_WORKERS", ...skip)) return;
  redisCli(DB, "FLUSHDB");
  pushSidekiqJob(DB, "seen", 60);
  const events = join(tempDir(), "events");
  const bare = runBare(sidekiqCommand(1), { REDIS_URL, JOB_EVENTS: events });
  const started = await jobEvent(events, "started", "seen");
  await sidekiqBeatWith(DB, "seen");

  const live = await runCommand(["--queue", "sidekiq", "check"], { REDIS_URL });
  assert.equal(live.code, 0, live.out);
  assert.match(live.out, /^jobguard check: queue=sidekiq redis=redis:\/\/127\.0\.0\.1:6379\/6$/m);
  assert.match(live.out, new RegExp(`:${started.pid}:[0-9a-f]+: 1 in flight \\(seen@default\\), last beat `));
  assert.doesNotMatch(live.out, /<-/);

  process.kill(started.pid, "SIGKILL");
  await bare.exited;
  const dead = await runCommand(["--queue", "sidekiq", "check"], { REDIS_URL });
  assert.equal(dead.code, 1, dead.out);
  assert.match(dead.out, /1 in flight \(seen@default\).*<- no such process on this host/);
  assert.match(dead.out, /^error: 1 Sidekiq process\(es\) of this host are gone with jobs in flight$/m);
});

test("check with Redis out of reach: one line naming host, port and database, never the password; exit 1", async (t) => {
  if (!prerequisite(t, "JOBGUARD_REQUIRE_WORKERS", ...skip)) return;
  const r = await runCommand(["--queue", "sidekiq", "check"], {
    REDIS_URL: "redis://:hunter2@127.0.0.1:1/6",
  });
  assert.equal(r.code, 1);
  assert.match(r.out, /^error: redis:\/\/127\.0\.0\.1:1\/6: /m);
  assert.doesNotMatch(r.out, /hunter2/);
});
