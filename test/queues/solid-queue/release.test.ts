import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { hostname } from "node:os";
import { after, test } from "node:test";
import { withClient } from "../../../tools/db.js";
import { isAlive } from "../../../tools/processes.js";
import { fileDatabase } from "../../support/db.js";
import {
  dockerStop,
  herokuRestart,
  killLeftovers,
  OWNED,
  runJobguard,
  type PlatformStop,
  type Run,
} from "../../support/jobguard.js";
import { fastLeases } from "../../support/lease.js";
import {
  backInQueue,
  claim,
  createSolidQueueSchema,
  enqueue,
  events,
  insertProcess,
  jobState,
  processes,
  solidQueueEnv,
  STAND_IN,
  standInPids,
  started,
} from "../../support/solid-queue.js";
import { waitFor } from "../../support/wait.js";

// Solid Queue 1.x under jobguard on one host: the release after a kill and the
// rows it must leave alone; what Solid Queue does without jobguard. The queue
// is the published schema and a stand-in that follows Solid Queue's protocol
// (test/fixtures/solid_queue): the gem itself needs Rails 7.1+.

after(killLeftovers);

const HOST = hostname();
let schemas = 0;
const db = fileDatabase();

/** Solid Queue's tables in a schema of their own, for one test. */
async function newSchema(): Promise<string> {
  const schema = `sq_${++schemas}`;
  await createSolidQueueSchema(db.url, schema);
  return schema;
}

function env(schema: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return solidQueueEnv(db.url, schema, extra);
}

test("without jobguard: the stand-in's prune fails a SIGKILLed worker's job, and its boot fails a claim without a process row", async () => {
  const schema = await newSchema();
  const id = await enqueue(db.url, schema, 60);
  const first = spawn(STAND_IN[0]!, STAND_IN.slice(1), {
    env: { ...process.env, ...OWNED, ...env(schema) },
    stdio: "inherit",
  });
  const { supervisor, worker } = await standInPids(db.url, schema, await started(db.url, schema, id));
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
      ["--deadline", "2", ...fastLeases(4), "--", ...STAND_IN],
      env(schema, { ...restart.env, SQ_SHUTDOWN_TIMEOUT: "60" }),
    );
    const worker = await started(db.url, schema, id);
    const tree = await standInPids(db.url, schema, worker);
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
        (await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${schema}.jobguard_leases_rescues`))
          .rows[0]!.n,
    );
    assert.equal(counted, 0, "a restart was counted as a crash");
  });
}

test("a restart Solid Queue finishes within the deadline: it hands the job back itself, and jobguard stays out of it", async () => {
  const schema = await newSchema();
  const id = await enqueue(db.url, schema, 60);
  const run = runJobguard(
    ["--deadline", "3", ...fastLeases(5), "--", ...STAND_IN],
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
