import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { hostname } from "node:os";
import { after, before, test } from "node:test";
import { withClient } from "../../../tools/db.js";
import { freshDatabase, type FreshDatabase } from "../../support/db.js";
import { waitFor } from "../../support/wait.js";
import {
  dockerStop,
  herokuRestart,
  killLeftovers,
  OWNED,
  runJobguard,
  type PlatformStop,
  type Run,
} from "../../support/jobguard.js";
import { isAlive } from "../../../tools/processes.js";
import {
  backInQueue,
  claim,
  createSolidQueueSchema,
  solidQueueEnv,
  enqueue,
  events,
  insertProcess,
  jobState,
  processes,
  STAND_IN,
  started,
} from "../../support/solid-queue.js";

// Solid Queue 1.x under jobguard on one host: the release after a kill, the
// rows it must leave alone, crashes, and `jobguard check`. The queue is the
// published schema and a stand-in that follows Solid Queue's protocol
// (test/fixtures/solid_queue): the gem itself needs Rails 7.1+.

after(killLeftovers);

const HOST = hostname();
// Heartbeats every half second; the stand-in's alive threshold is set where a test needs its prune.
const FAST = ["--heartbeat", "0.5", "--stale-after", "2"];
let db: FreshDatabase;
let schemas = 0;

before(async () => {
  db = await freshDatabase();
});
after(async () => db?.drop());

/** Solid Queue's tables in a schema of their own, for one test. */
async function newSchema(): Promise<string> {
  const schema = `sq_${++schemas}`;
  await createSolidQueueSchema(db.url, schema);
  return schema;
}

function env(schema: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return solidQueueEnv(db.url, schema, extra);
}

/** The pids of the stand-in's supervisor and worker, from their process rows once both have registered. */
async function standInPids(
  schema: string,
  workerPid: number,
): Promise<{ supervisor: number; worker: number }> {
  const rows = await waitFor(
    async () => {
      const rows = await processes(db.url, schema);
      const worker = rows.find((r) => r.pid === workerPid);
      const supervisor = rows.find((r) => r.id === worker?.supervisor_id);
      return supervisor && worker && { supervisor: supervisor.pid, worker: worker.pid };
    },
    { what: "the stand-in's process rows" },
  );
  return rows;
}

test("without jobguard: the stand-in's prune fails a SIGKILLed worker's job, and its boot fails a claim without a process row", async () => {
  const schema = await newSchema();
  const id = await enqueue(db.url, schema, 60);
  const first = spawn(STAND_IN[0]!, STAND_IN.slice(1), {
    env: { ...process.env, ...OWNED, ...env(schema) },
    stdio: "inherit",
  });
  const { supervisor, worker } = await standInPids(schema, await started(db.url, schema, id));
  for (const pid of [supervisor, worker]) process.kill(pid, "SIGKILL");
  const orphan = await enqueue(db.url, schema, 1);
  await claim(db.url, schema, orphan, 999_999);

  const next = spawn(STAND_IN[0]!, STAND_IN.slice(1), {
    env: { ...process.env, ...OWNED, ...env(schema, { SQ_ALIVE_THRESHOLD: "2" }) },
    stdio: "inherit",
  });
  const pruned = await waitFor(async () => (await jobState(db.url, schema, id)).error, {
    what: "the prune",
    timeoutMs: 15_000,
  });
  assert.equal(pruned.exception_class, "SolidQueue::Processes::ProcessPrunedError");
  assert.equal(
    (await jobState(db.url, schema, orphan)).error?.exception_class,
    "SolidQueue::Processes::ProcessMissingError",
  );
  assert.equal((await jobState(db.url, schema, id)).ready, null, "a pruned job went back to the queue");
  // A graceful stop deregisters: no row left behind.
  next.kill("SIGTERM");
  assert.equal(await new Promise((done) => next.on("exit", done)), 0);
  assert.deepEqual(await processes(db.url, schema), []);
  assert.ok(!isAlive(first.pid!));
});

const RESTARTS: {
  name: string;
  env: NodeJS.ProcessEnv;
  stop: (run: Run, graceMs: number) => Promise<PlatformStop>;
}[] = [
  {
    name: "Heroku Cedar (SIGTERM to every process, twice)",
    env: { DYNO: "worker.1" },
    stop: (run, grace) => herokuRestart(run, grace, 2),
  },
  { name: "docker stop (SIGTERM to jobguard alone)", env: {}, stop: (run, grace) => dockerStop(run, grace) },
];

for (const restart of RESTARTS) {
  test(`an overrun under ${restart.name}: the job is back in its queue, the tree's rows gone, foreign rows untouched`, async () => {
    const schema = await newSchema();
    const id = await enqueue(db.url, schema, 60, { queue: "critical", priority: 3 });
    // A shutdown_timeout longer than the grace period, as set for long jobs: the worker would still be waiting at the SIGKILL.
    const run = runJobguard(
      ["--deadline", "2", "--grace", "4", ...FAST, "--", ...STAND_IN],
      env(schema, { ...restart.env, SQ_SHUTDOWN_TIMEOUT: "60" }),
    );
    const worker = await started(db.url, schema, id);
    const tree = await standInPids(schema, worker);
    // Jobs the busy worker will not take: claimed below by processes that are not the tree's.
    const [elsewhereJob, liveJob] = [
      await enqueue(db.url, schema, 60, { queue: "other" }),
      await enqueue(db.url, schema, 60, { queue: "other" }),
    ];
    // The same pid on another host, and a live process of this host (the test itself), each with a claim.
    const elsewhere = await insertProcess(db.url, schema, { pid: worker, hostname: "elsewhere" });
    const live = await insertProcess(db.url, schema, { pid: process.pid, hostname: HOST });
    await claim(db.url, schema, elsewhereJob, elsewhere);
    await claim(db.url, schema, liveJob, live);
    await waitFor(
      async () =>
        (await withClient(db.url, (c) => c.query(`SELECT 1 FROM ${schema}.jobguard_leases`))).rowCount,
      { what: "the lease" },
    );

    const stoppedAt = Date.now();
    const platform = await restart.stop(run, 4000);
    const exit = await run.exited;
    assert.equal(exit.code, 124, run.stderr());
    assert.ok(
      !platform.sigkilledJobguard && exit.at - stoppedAt < 4000,
      `jobguard exited ${exit.at - stoppedAt} ms after the SIGTERM`,
    );
    assert.match(run.stderr(), new RegExp(`event=locks_released queue=solid_queue jobs=1 ids=${id} pids=`));
    assert.ok(!isAlive(tree.supervisor) && !isAlive(tree.worker));

    assert.deepEqual(await jobState(db.url, schema, id), backInQueue("critical", 3));
    assert.deepEqual(
      (await processes(db.url, schema)).map((p) => p.id),
      [elsewhere, live],
      "the tree's rows remain, or a foreign row went",
    );
    assert.equal((await jobState(db.url, schema, elsewhereJob)).claimedBy, elsewhere);
    assert.equal((await jobState(db.url, schema, liveJob)).claimedBy, live);
    assert.deepEqual(
      (await events(db.url, schema, id)).map((e) => e.event),
      ["started"],
    );
    const counted = await withClient(
      db.url,
      async (c) =>
        (await c.query(`SELECT count(*)::int AS n FROM ${schema}.jobguard_leases_rescues`)).rows[0].n,
    );
    assert.equal(counted, 0, "a restart was counted as a crash");
  });
}

test("a restart Solid Queue finishes within the deadline: it hands the job back itself, and jobguard stays out of it", async () => {
  const schema = await newSchema();
  const id = await enqueue(db.url, schema, 60);
  const run = runJobguard(
    ["--deadline", "3", "--grace", "5", ...FAST, "--", ...STAND_IN],
    env(schema, { DYNO: "worker.1", SQ_SHUTDOWN_TIMEOUT: "0.5" }),
  );
  await started(db.url, schema, id);
  await herokuRestart(run, 5000);
  assert.equal((await run.exited).code, 0, run.stderr());
  assert.doesNotMatch(run.stderr(), /locks_released/);
  assert.deepEqual(await jobState(db.url, schema, id), backInQueue());
  assert.deepEqual(await processes(db.url, schema), []);
});

test("a pid a newer process took: the dead process's row and claims are released, a row registered since is not", async () => {
  const schema = await newSchema();
  const { solidQueue } = await import("../../../src/queues/solid-queue/index.js");
  const reusedSince = Date.now() - 60_000;
  const [old, fork, since] = [
    await enqueue(db.url, schema, 1),
    await enqueue(db.url, schema, 1),
    await enqueue(db.url, schema, 1),
  ];
  const oldRow = await insertProcess(db.url, schema, {
    kind: "Supervisor(fork)",
    pid: 41,
    hostname: "h",
    createdAt: new Date(reusedSince - 5_000),
  });
  const forkRow = await insertProcess(db.url, schema, { pid: 43, hostname: "h", supervisorId: oldRow });
  const sinceRow = await insertProcess(db.url, schema, {
    pid: 42,
    hostname: "h",
    createdAt: new Date(reusedSince + 5_000),
  });
  await claim(db.url, schema, old, oldRow);
  await claim(db.url, schema, fork, forkRow);
  await claim(db.url, schema, since, sinceRow);
  const dead = [
    { pid: 41, startTime: 1, reusedSince },
    { pid: 42, startTime: 1, reusedSince },
  ];
  const released = await withClient(db.url, (c) =>
    solidQueue([schema, "solid_queue_"]).release(c, { host: "h", dead }),
  );
  assert.deepEqual(released.ids.map(Number).sort(), [old, fork].sort());
  assert.deepEqual(
    await jobState(db.url, schema, fork),
    backInQueue(),
    "a dead supervisor's fork keeps its claim",
  );
  assert.equal((await jobState(db.url, schema, since)).claimedBy, sinceRow);
  assert.deepEqual(
    (await processes(db.url, schema)).map((p) => p.id),
    [sinceRow],
  );
});

test("the stand-in killed while jobguard lives: its job is back at once, counted, and failed by jobguard after max-rescues", async () => {
  const schema = await newSchema();
  const id = await enqueue(db.url, schema, 60);
  const crash = async (times: number) => {
    const run = runJobguard([...FAST, "--max-rescues", "1", "--", ...STAND_IN], env(schema));
    const tree = await standInPids(schema, await started(db.url, schema, id, times));
    // The OOM killer takes the Solid Queue processes, not jobguard; the supervisor first, so it cannot tend to its fork.
    for (const pid of [tree.supervisor, tree.worker]) process.kill(pid, "SIGKILL");
    assert.equal((await run.exited).code, 137, run.stderr());
    return run.stderr();
  };
  assert.match(
    await crash(1),
    new RegExp(`event=locks_released queue=solid_queue jobs=1 ids=${id} rescue_counted=true pids=`),
  );
  assert.deepEqual(await jobState(db.url, schema, id), backInQueue());
  assert.deepEqual(await processes(db.url, schema), []);

  assert.match(
    await crash(2),
    new RegExp(`event=locks_released queue=solid_queue jobs=0 ids="" rescue_counted=true failed=${id} `),
  );
  const state = await jobState(db.url, schema, id);
  assert.equal(state.ready, null);
  assert.equal(state.claimedBy, null);
  assert.equal(state.error?.exception_class, "JobGuard::RescueLimitExceeded");
  assert.match(
    state.error?.message ?? "",
    /^jobguard: rescued from dead workers more than 1 times; .* \(last process: Worker /,
  );
});

test("check lists claims by process, marks this host's dead processes, and exits 1 until they are gone", async () => {
  const schema = await newSchema();
  const jobs = [
    await enqueue(db.url, schema, 1),
    await enqueue(db.url, schema, 1),
    await enqueue(db.url, schema, 1),
  ];
  const dead = await insertProcess(db.url, schema, { pid: 999_999, hostname: HOST });
  const live = await insertProcess(db.url, schema, { pid: process.pid, hostname: HOST });
  const far = await insertProcess(db.url, schema, { pid: 999_999, hostname: "elsewhere" });
  await claim(db.url, schema, jobs[0]!, dead);
  await claim(db.url, schema, jobs[1]!, live);
  await claim(db.url, schema, jobs[2]!, far);
  const check = async () => {
    const run = runJobguard(["check"], env(schema));
    let out = "";
    run.child.stdout!.on("data", (chunk) => (out += chunk));
    return { code: (await run.exited).code, out };
  };
  const first = await check();
  assert.equal(first.code, 1, first.out);
  assert.match(
    first.out,
    new RegExp(`^jobguard check: queue=solid_queue database=\\S+ table_prefix=${schema}\\.solid_queue_\\n`),
  );
  assert.match(
    first.out,
    new RegExp(
      `Worker \\S+ host:${HOST} pid:999999: 1 claimed \\(ids ${jobs[0]}\\) since \\S+Z {2}<- no such process on this host`,
    ),
  );
  assert.match(
    first.out,
    new RegExp(`Worker \\S+ host:${HOST} pid:${process.pid}: 1 claimed \\(ids ${jobs[1]}\\) since \\S+Z\\n`),
  );
  assert.match(
    first.out,
    new RegExp(`Worker \\S+ host:elsewhere pid:999999: 1 claimed \\(ids ${jobs[2]}\\) since \\S+Z\\n`),
  );
  assert.doesNotMatch(first.out, /postgres:\/\//);

  await withClient(db.url, (c) =>
    c.query(`DELETE FROM ${schema}.solid_queue_processes WHERE id = $1`, [dead]),
  );
  const orphaned = await check();
  assert.equal(orphaned.code, 1, "a claim without a process row passed");
  assert.match(
    orphaned.out,
    /1 claimed execution\(s\) without a process row: Solid Queue fails them \(ProcessMissingError\)/,
  );

  await withClient(db.url, (c) =>
    c.query(`DELETE FROM ${schema}.solid_queue_claimed_executions WHERE job_id = $1`, [jobs[0]]),
  );
  const clean = await check();
  assert.equal(clean.code, 0, clean.out);
});
