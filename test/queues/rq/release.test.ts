import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { dockerStop, killLeftovers, runJobguard, tempDir } from "../../support/jobguard.js";
import { prerequisite } from "../../support/prerequisites.js";
import { DEBIAN_PYTHON, enqueueRq, jobEvent, rqCommand, rqState } from "../../support/redis-queues.js";
import { waitFor } from "../../support/wait.js";
import { brokerSkipReason, commandSkipReason, readEvents, redisCli } from "../../support/workers.js";

// JOBGUARD_QUEUE=rq with Debian's RQ 1.13, its worker's death while jobguard
// lives: the jobs its StartedJobRegistry holds under the dead worker's name go
// back to their queue once the tree (the worker and its work horse) is gone.

after(killLeftovers);

const DB = 5; // this file's own Redis database

let skip: (string | null)[] = [];
before(async () => {
  skip = [
    commandSkipReason(DEBIAN_PYTHON, ["-c", "import rq"], "apt-get install python3-rq"),
    await brokerSkipReason("Redis", 6379),
  ];
});

/** jobguard in front of an RQ worker with the job `id` running; the worker's own pid (not its horse's). */
async function rqRunning(id: string, args: string[] = []) {
  redisCli(DB, "FLUSHDB");
  enqueueRq(DB, id, 60);
  const events = join(tempDir(), "events");
  const run = runJobguard(
    ["--queue", "rq", "--deadline", "3", "--grace", "6", ...args, "--", ...rqCommand(DB)],
    {
      REDIS_URL: `redis://127.0.0.1:6379/${DB}`,
      JOB_EVENTS: events,
    },
  );
  const started = await jobEvent(events, "started", id);
  const worker = await waitFor(() => redisCli(DB, "SMEMBERS", "rq:workers").split("\n")[0], {
    what: "a worker",
  });
  return { run, events, started, workerPid: Number(redisCli(DB, "HGET", worker, "pid")) };
}

test("rq's worker SIGKILLed mid-job, jobguard alive: the job is back in its queue at once, counted, and runs to the end once more", async (t) => {
  if (!prerequisite(t, "JOBGUARD_REQUIRE_WORKERS", ...skip)) return;
  const { run, events, started, workerPid } = await rqRunning("oom");
  assert.notEqual(workerPid, started.pid, "the job runs in the work horse");
  process.kill(workerPid, "SIGKILL");
  const exit = await run.exited;
  assert.equal(exit.code, 137, run.stderr());
  // The horse outlives its worker: jobguard stops it first, then puts the job back.
  assert.match(run.stderr(), /event=leftovers signal=SIGTERM/);
  assert.match(run.stderr(), /event=jobs_requeued queue=rq jobs=1 ids=oom rescue_counted=true pids=/);
  assert.equal(rqState(DB, "oom"), "queued");
  assert.equal(redisCli(DB, "SMEMBERS", "rq:workers"), "", "the dead worker is deregistered");
  assert.equal(redisCli(DB, "ZCARD", "rq:wip:jobguard"), "0");

  const again = runJobguard(["--queue", "rq", "--", ...rqCommand(DB)], {
    REDIS_URL: `redis://127.0.0.1:6379/${DB}`,
    JOB_EVENTS: events,
  });
  await jobEvent(events, "finished", "oom", (e) => e.pid !== started.pid);
  await waitFor(() => rqState(DB, "oom") === "finished", { what: "the job finished in RQ's registry" });
  await dockerStop(again, 10_000);
  assert.equal((await again.exited).code, 0, again.stderr());
  assert.equal(readEvents(events).filter((e) => e.event === "finished").length, 1);
});

test("rq, a job that finishes in time, then a stop: nothing is requeued", async (t) => {
  if (!prerequisite(t, "JOBGUARD_REQUIRE_WORKERS", ...skip)) return;
  redisCli(DB, "FLUSHDB");
  enqueueRq(DB, "short", 0.5);
  const events = join(tempDir(), "events");
  const run = runJobguard(["--queue", "rq", "--deadline", "3", "--grace", "6", "--", ...rqCommand(DB)], {
    REDIS_URL: `redis://127.0.0.1:6379/${DB}`,
    JOB_EVENTS: events,
  });
  await jobEvent(events, "finished", "short");
  await waitFor(() => rqState(DB, "short") === "finished", { what: "the job finished in RQ's registry" });
  await dockerStop(run, 6000);
  assert.equal((await run.exited).code, 0, run.stderr());
  assert.doesNotMatch(run.stderr(), /event=jobs_requeued/);
  assert.equal(rqState(DB, "short"), "finished");
});

test("rq: a job whose worker dies under it more than max-rescues times goes to the FailedJobRegistry, naming jobguard", async (t) => {
  if (!prerequisite(t, "JOBGUARD_REQUIRE_WORKERS", ...skip)) return;
  const { run, workerPid } = await rqRunning("poison", ["--max-rescues", "0"]);
  process.kill(workerPid, "SIGKILL");
  assert.equal((await run.exited).code, 137, run.stderr());
  assert.match(run.stderr(), /event=jobs_requeued queue=rq jobs=0 ids="" rescue_counted=true failed=poison/);
  assert.equal(rqState(DB, "poison"), "failed");
  assert.equal(redisCli(DB, "HGET", "rq:job:poison", "status"), "failed");
  // RQ itself reads the failure back: the job's latest result names jobguard.
  const reason = spawnPython(
    "import sys; from redis import Redis; from rq.job import Job; j = Job.fetch('poison', connection=Redis.from_url(sys.argv[1])); print(j.latest_result().exc_string)",
  );
  assert.match(reason, /^jobguard: the job's worker died under it more than 0 times/);
});

/** Runs Python code with RQ against this file's database (its URL in argv[1]); its stdout. */
function spawnPython(code: string): string {
  const r = spawnSync(DEBIAN_PYTHON, ["-c", code, `redis://127.0.0.1:6379/${DB}`], {
    encoding: "utf8",
    timeout: 30_000,
  });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout.trim();
}
