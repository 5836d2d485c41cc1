import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { descendantsOf, isAlive } from "../../../tools/processes.js";
import { killLeftovers, runJobguard, tempDir, type Run } from "../../support/jobguard.js";
import { prerequisite } from "../../support/prerequisites.js";
import {
  jobEvent,
  pushSidekiqJob,
  REDIS_HOST_URL,
  sidekiqBeatWith,
  sidekiqCommand,
  sidekiqState,
} from "../../support/redis-queues.js";
import { waitFor } from "../../support/wait.js";
import { brokerSkipReason, commandSkipReason, redisCli } from "../../support/workers.js";

// JOBGUARD_QUEUE=sidekiq, the whole dyno's death: leases in Redis, judged on
// Redis's clock, and the sweeps of the other dynos' jobguards. The proof of
// death is a stale lease and Sidekiq's own heartbeat gone too: its process key
// expires 60 s after its last beat, so these tests take a minute each.

after(killLeftovers);

const DB = 8; // this file's own Redis database
const REDIS_URL = `${REDIS_HOST_URL}/${DB}`;
// The lease contract's test timings: stale-after >= grace + 2 x heartbeat + 3 s, + 2 s (the replication lag) for a heartbeat of 2 s or less.
const LEASE = ["--deadline", "1", "--grace", "2", "--heartbeat", "0.5", "--stale-after", "8"];

let skip: (string | null)[] = [];
before(async () => {
  skip = [
    commandSkipReason("ruby", ["-e", 'require "sidekiq"'], "apt-get install ruby-sidekiq"),
    await brokerSkipReason("Redis", 6379),
  ];
});

/** A dyno: jobguard in front of Sidekiq, named by $DYNO as Sidekiq names its processes. */
function dyno(name: string, events: string, args: string[] = []): Run {
  return runJobguard(["--queue", "sidekiq", ...LEASE, ...args, "--", ...sidekiqCommand(1)], {
    REDIS_URL,
    JOB_EVENTS: events,
    DYNO: name,
  });
}

/** Dyno worker.1 with the job `jid` in flight and seen by a heartbeat and by its lease, beside an idle worker.2. */
async function twoDynos(jid: string, second: string[] = []) {
  redisCli(DB, "FLUSHDB");
  pushSidekiqJob(DB, jid, 120);
  const events = join(tempDir(), "events");
  const one = dyno("worker.1", events);
  const started = await jobEvent(events, "started", jid);
  await sidekiqBeatWith(DB, jid);
  // The lease has copied the work hash (a heartbeat of jobguard's after Sidekiq's).
  await waitFor(() => redisCli(DB, "HVALS", "jobguard:leases").includes(`\\"jid\\":\\"${jid}\\"`), {
    what: "the lease naming the job",
  });
  const two = dyno("worker.2", events, second);
  await two.waitFor(/event=started/);
  return { one, two, events, started };
}

test("the whole dyno SIGKILLed beside a second dyno: the job is back within the bound, and the second dyno runs it to the end", async (t) => {
  if (!prerequisite(t, "JOBGUARD_REQUIRE_WORKERS", ...skip)) return;
  const { one, two, events, started } = await twoDynos("dyno");
  const dyno1 = [one.pid, ...descendantsOf(one.pid)];
  for (const pid of dyno1) process.kill(pid, "SIGKILL"); // a host failure: everything at once
  const killedAt = Date.now();
  const swept = await two.waitFor(/event=swept .*jobs=1 ids=dyno/, 90_000);
  // Sidekiq's key expires 60 s after its last beat; then one sweep interval, and room for a busy machine.
  assert.ok(Date.now() - killedAt < 80_000, `swept after ${Date.now() - killedAt} ms`);
  assert.match(swept, /host=worker\.1/);
  const finished = await jobEvent(events, "finished", "dyno", (e) => e.pid !== started.pid, 30_000);
  assert.ok(finished.at > killedAt);
  assert.equal(sidekiqState(DB, "dyno"), "missing", "done, not queued again");
  assert.equal(redisCli(DB, "GET", "jobguard:rescues:dyno"), "1", "a dyno's death counts");
  assert.doesNotMatch(redisCli(DB, "HKEYS", "jobguard:leases"), new RegExp(swept.match(/lease=(\w+)/)![1]!));
  assert.ok(dyno1.every((pid) => !isAlive(pid)));
  await stopDyno(two);
});

test("jobguard and its watchdog SIGKILLed while Sidekiq lives and beats: the stale lease is swept, nothing is taken", async (t) => {
  if (!prerequisite(t, "JOBGUARD_REQUIRE_WORKERS", ...skip)) return;
  const { one, two, started } = await twoDynos("alive", ["--log-level", "debug"]);
  // Its watchdog first: killed after jobguard, it may see jobguard gone and stop the worker in between.
  const watchdog = descendantsOf(one.pid).filter((pid) => pid !== started.pid);
  for (const pid of [...watchdog, one.pid]) process.kill(pid, "SIGKILL");
  // The lease is stale after 8 s; the second dyno's sweep sees Sidekiq still beating, several times over.
  await two.waitFor(/event=swept .*jobs=0 .*alive=true/, 30_000);
  const seen = () => two.stderr().match(/event=swept .*alive=true/g)?.length ?? 0;
  await waitFor(() => seen() >= 5, { timeoutMs: 30_000, what: "five sweeps that found Sidekiq alive" });
  assert.ok(isAlive(started.pid), "the worker runs on");
  assert.equal(sidekiqState(DB, "alive"), "missing", "its job is not in the queue: it is running");
  assert.doesNotMatch(two.stderr(), /event=swept .*jobs=1/);
  process.kill(started.pid, "SIGKILL");
  await stopDyno(two);
});

/** Ends a dyno of this file, so that its Sidekiq takes no job of the next test. */
async function stopDyno(run: Run): Promise<void> {
  for (const pid of [run.pid, ...descendantsOf(run.pid)]) process.kill(pid, "SIGKILL");
  await run.exited;
}
