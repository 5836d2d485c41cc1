import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { descendantsOf, isAlive } from "../../../tools/processes.js";
import { killLeftovers, runJobguard, tempDir, type Run } from "../../support/jobguard.js";
import { prerequisite } from "../../support/prerequisites.js";
import {
  DEBIAN_PYTHON,
  enqueueRq,
  jobEvent,
  REDIS_HOST_URL,
  rqCommand,
  rqState,
} from "../../support/redis-queues.js";
import { waitFor } from "../../support/wait.js";
import { brokerSkipReason, commandSkipReason, redisCli } from "../../support/workers.js";

// JOBGUARD_QUEUE=rq, the whole dyno's death: the other dyno's sweep puts the
// job back once the lease is stale and the RQ worker's own heartbeat is 60 s
// old; the StartedJobRegistry says exactly what was in flight.

after(killLeftovers);

const DB = 9; // this file's own Redis database
const LEASE = ["--deadline", "1", "--grace", "2", "--heartbeat", "0.5", "--stale-after", "8"];

let skip: (string | null)[] = [];
before(async () => {
  skip = [
    commandSkipReason(DEBIAN_PYTHON, ["-c", "import rq"], "apt-get install python3-rq"),
    await brokerSkipReason("Redis", 6379),
  ];
});

function dyno(name: string, events: string): Run {
  return runJobguard(["--queue", "rq", ...LEASE, "--", ...rqCommand(DB)], {
    REDIS_URL: `${REDIS_HOST_URL}/${DB}`,
    JOB_EVENTS: events,
    DYNO: name,
  });
}

test("rq: the whole dyno SIGKILLed beside a second dyno: the job is back within the bound, and the second dyno runs it to the end", async (t) => {
  if (!prerequisite(t, "JOBGUARD_REQUIRE_WORKERS", ...skip)) return;
  redisCli(DB, "FLUSHDB");
  enqueueRq(DB, "dyno", 120);
  const events = join(tempDir(), "events");
  const one = dyno("worker.1", events);
  const started = await jobEvent(events, "started", "dyno");
  await waitFor(() => redisCli(DB, "HVALS", "jobguard:leases").includes("rq:worker:"), {
    what: "the lease naming the worker",
  });
  const two = dyno("worker.2", events);
  await two.waitFor(/event=started/);
  const dyno1 = [one.pid, ...descendantsOf(one.pid)];
  for (const pid of dyno1) process.kill(pid, "SIGKILL");
  const killedAt = Date.now();
  await two.waitFor(/event=swept .*jobs=1 ids=dyno/, 120_000);
  // The worker beats every 30 s during a job; 60 s of silence, then a sweep interval, and room for a busy machine.
  assert.ok(Date.now() - killedAt < 100_000, `swept after ${Date.now() - killedAt} ms`);
  const finished = await jobEvent(events, "finished", "dyno", (e) => e.pid !== started.pid, 30_000);
  assert.ok(finished.at > killedAt);
  await waitFor(() => rqState(DB, "dyno") === "finished", { what: "the job finished in RQ's registry" });
  assert.equal(redisCli(DB, "GET", "jobguard:rescues:dyno"), "1", "a dyno's death counts");
  assert.ok(dyno1.every((pid) => !isAlive(pid)));
  for (const pid of [two.pid, ...descendantsOf(two.pid)]) process.kill(pid, "SIGKILL");
  await two.exited;
});
