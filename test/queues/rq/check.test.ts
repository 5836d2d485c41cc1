import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { killLeftovers, runCommand, tempDir } from "../../support/jobguard.js";
import { prerequisite } from "../../support/prerequisites.js";
import { DEBIAN_PYTHON, enqueueRq, jobEvent, REDIS_HOST_URL, rqCommand } from "../../support/redis-queues.js";
import { waitFor } from "../../support/wait.js";
import { brokerSkipReason, commandSkipReason, redisCli, runBare } from "../../support/workers.js";

// `jobguard check` with JOBGUARD_QUEUE=rq: the jobs in flight by worker, those
// of this host's gone workers marked, exit 1 when some need attention.

after(killLeftovers);

const DB = 7; // this file's own Redis database
const REDIS_URL = `${REDIS_HOST_URL}/${DB}`;

let skip: (string | null)[] = [];
before(async () => {
  skip = [
    commandSkipReason(DEBIAN_PYTHON, ["-c", "import rq"], "apt-get install python3-rq"),
    await brokerSkipReason("Redis", 6379),
  ];
});

test("check lists a live RQ worker's job (exit 0), and marks it once the worker is SIGKILLed without jobguard (exit 1)", async (t) => {
  if (!prerequisite(t, "JOBGUARD_REQUIRE_WORKERS", ...skip)) return;
  redisCli(DB, "FLUSHDB");
  enqueueRq(DB, "seen", 60);
  const events = join(tempDir(), "events");
  const bare = runBare(rqCommand(DB), { JOB_EVENTS: events });
  const started = await jobEvent(events, "started", "seen");
  const key = await waitFor(() => redisCli(DB, "SMEMBERS", "rq:workers").split("\n")[0], {
    what: "a worker",
  });
  const pid = Number(redisCli(DB, "HGET", key, "pid"));

  const live = await runCommand(["--queue", "rq", "check"], { REDIS_URL });
  assert.equal(live.code, 0, live.out);
  assert.match(live.out, new RegExp(`pid ${pid}\\): 1 in flight \\(seen@jobguard\\)`));
  assert.doesNotMatch(live.out, /<-/);

  process.kill(pid, "SIGKILL");
  process.kill(started.pid, "SIGKILL"); // its work horse, which no jobguard stops here
  await bare.exited;
  const dead = await runCommand(["--queue", "rq", "check"], { REDIS_URL });
  assert.equal(dead.code, 1, dead.out);
  assert.match(dead.out, /1 in flight \(seen@jobguard\).*<- no such process on this host/);
  assert.match(dead.out, /^error: 1 RQ worker\(s\) of this host are gone with jobs in flight$/m);
});
