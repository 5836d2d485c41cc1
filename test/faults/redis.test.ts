import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { freePort } from "../../tools/free-port.js";
import { descendantsOf, isAlive } from "../../tools/processes.js";
import { killLeftovers, runJobguard, tempDir, type Run } from "../support/jobguard.js";
import { prerequisite } from "../support/prerequisites.js";
import { jobEvent, pushSidekiqJob, sidekiqCommand } from "../support/redis-queues.js";
import { waitFor } from "../support/wait.js";
import { commandSkipReason } from "../support/workers.js";

// Redis out of reach for longer than stale-after, with live dynos: each
// jobguard's lease fences itself (stops its worker once its renewal has gone
// unconfirmed for stale-after - grace - 1 s), so no sweep can take a job from
// a worker that still runs it. The Redis is this test's own (a redis-server on
// a free port, SIGSTOPped like a network partition), never the machine's.

after(killLeftovers);

const LEASE = ["--deadline", "1", "--grace", "2", "--heartbeat", "0.5", "--stale-after", "8"];
let redis: ChildProcess | undefined;
let port = 0;
after(() => redis?.kill("SIGKILL"));

let skip: (string | null)[] = [];
before(async () => {
  skip = [
    commandSkipReason("ruby", ["-e", 'require "sidekiq"'], "apt-get install ruby-sidekiq"),
    commandSkipReason("redis-server", ["--version"], "apt-get install redis-server"),
  ];
  if (skip.some(Boolean)) return;
  port = await freePort();
  redis = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    {
      stdio: "ignore",
    },
  );
  await waitFor(() => cli("PING") === "PONG", { what: "the test's own redis-server" });
});

function cli(...args: string[]): string {
  return spawnSync("redis-cli", ["-p", String(port), ...args], { encoding: "utf8" }).stdout.trim();
}

/** jobguard's own lines of a run, without the worker's. */
function jobguardLines(run: Run): string {
  return run
    .stderr()
    .split("\n")
    .filter((l) => l.startsWith("jobguard "))
    .join("\n");
}

function dyno(name: string, events: string): Run {
  return runJobguard(["--queue", "sidekiq", ...LEASE, "--", ...sidekiqCommand(1)], {
    REDIS_URL: `redis://127.0.0.1:${port}/0`,
    JOB_EVENTS: events,
    DYNO: name,
  });
}

test("Redis silent for longer than stale-after: every dyno stops its worker (lease_lost) before its lease can be judged stale; nothing is taken from a live worker", async (t) => {
  if (!prerequisite(t, "JOBGUARD_REQUIRE_WORKERS", ...skip)) return;
  pushSidekiqJob(0, "held", 120, (...args) => cli(...args));
  const events = join(tempDir(), "events");
  const one = dyno("worker.1", events);
  const started = await jobEvent(events, "started", "held");
  await waitFor(() => cli("HVALS", "jobguard:leases").includes('\\"jid\\":\\"held\\"'), {
    what: "the lease naming the job",
  });
  const two = dyno("worker.2", events);
  await two.waitFor(/event=started/);
  const workers = [started.pid, ...descendantsOf(two.pid)];

  redis!.kill("SIGSTOP");
  const cutAt = Date.now();
  try {
    const exits = await Promise.all([one.exited, two.exited]);
    for (const run of [one, two]) {
      // The fence: unconfirmed for stale-after - grace - 1 s = 5 s, then the normal shutdown.
      assert.match(run.stderr(), /event=lease_lost .*fence_s=5 /, jobguardLines(run));
      assert.match(run.stderr(), /event=stop reason=lease_lost signal=SIGTERM forwarded=true/);
    }
    // Generous on a busy machine; by design the tree is gone 1 s (the deadline) after the fence, 2 s before stale.
    const lastExit = Math.max(...exits.map((e) => e.at));
    assert.ok(lastExit - cutAt < 15_000, `the dynos stopped ${lastExit - cutAt} ms after the cut`);
    assert.ok(workers.every((pid) => !isAlive(pid)));
  } finally {
    redis!.kill("SIGCONT");
  }
  // Back: whatever reached Redis once it woke (a release jobguard had given up on, still in the
  // socket's buffer) came after the workers' death, and put the job back once at most.
  const queued = cli("LRANGE", "queue:default", "0", "-1")
    .split("\n")
    .filter((l) => l.includes('"jid":"held"'));
  assert.ok(queued.length <= 1, queued.join("\n"));
});
