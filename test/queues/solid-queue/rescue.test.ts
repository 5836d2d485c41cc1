import assert from "node:assert/strict";
import { after, test } from "node:test";
import { withClient } from "../../../tools/db.js";
import { descendantsOf } from "../../../tools/processes.js";
import { fileDatabase } from "../../support/db.js";
import { dockerStop, killLeftovers, runCommand, runJobguard, type Run } from "../../support/jobguard.js";
import { FAST, insertDeadLease, leaseTestDatabase } from "../../support/lease.js";
import { requireHostnames } from "../../support/prerequisites.js";
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

// Solid Queue's rescue: dynos that die all at once, whose jobs another
// dyno's jobguard hands back through leases and sweeps, long before Solid
// Queue's own prune would fail them; and a stand-in killed under a living
// jobguard, counted toward max-rescues. test/queues/solid-queue/release.test.ts
// has the release and the stand-in without jobguard.

after(killLeftovers);

// The stand-in's alive threshold is 20 s: Solid Queue's 5 minutes are five
// times jobguard's default stale-after of 60 s; the extra margin is for the
// rescuing dyno's start on a loaded test machine.
const ALIVE_MS = 20_000;
let schemas = 0;
const db = fileDatabase({ create: leaseTestDatabase });

async function newSchema(): Promise<string> {
  const schema = `sqr_${++schemas}`;
  await createSolidQueueSchema(db.url, schema);
  return schema;
}

function env(schema: string): NodeJS.ProcessEnv {
  return solidQueueEnv(db.url, schema, { SQ_ALIVE_THRESHOLD: String(ALIVE_MS / 1000) });
}

/** A dyno of its own: jobguard and the stand-in under their own host name. */
function dyno(name: string, schema: string): Run {
  return runJobguard([...FAST, "--", ...STAND_IN], env(schema), { hostname: name });
}

/** Runs `jobguard rescue` once (the first creates jobguard's tables). */
async function rescue(schema: string, extra: string[] = []): Promise<string> {
  const { code, out } = await runCommand([...FAST, ...extra, "rescue"], env(schema));
  assert.equal(code, 0, out);
  return out;
}

/** A lease as a dyno that died an hour ago would have left it. */
async function deadLease(schema: string, id: string, host: string, pids: number[]): Promise<void> {
  await insertDeadLease(db.url, `${schema}.jobguard_leases`, { id, host, pids });
}

test("a whole dyno SIGKILLed mid-job: another dyno's jobguard puts its job back long before Solid Queue's prune would fail it, and runs it once", async (t) => {
  if (!requireHostnames(t)) return;
  const schema = await newSchema();
  const id = await enqueue(db.url, schema, 60);
  const a = dyno("dyno-a", schema);
  const pidA = await started(db.url, schema, id);
  await waitFor(
    async () =>
      (
        await withClient(db.url, (c) =>
          c.query(
            `SELECT 1 FROM ${schema}.jobguard_leases WHERE $1 = ANY(pids) AND session_tag IS NOT NULL`,
            [pidA],
          ),
        )
      ).rowCount,
    {
      // The tag shows once a heartbeat has seen the worker's sessions (lease/leases.ts).
      what: "dyno-a's lease to list its worker and show its session tag",
    },
  );

  // R15: every process of the dyno dies at once, jobguard included.
  for (const pid of [a.pid, ...descendantsOf(a.pid)]) process.kill(pid, "SIGKILL");
  const crashedAt = Date.now();
  await a.exited;
  // The next run should not take a minute: the test swaps in a short job.
  await withClient(db.url, (c) =>
    c.query(`UPDATE ${schema}.solid_queue_jobs SET arguments = $1 WHERE id = $2`, [
      '{"arguments":[0.2]}',
      id,
    ]),
  );

  const b = dyno("dyno-b", schema);
  const line = await b.waitFor(new RegExp(`event=swept swept=true released=${id} `), ALIVE_MS);
  const rescuedAfter = Date.now() - crashedAt;
  assert.ok(
    rescuedAfter < ALIVE_MS,
    `rescued ${rescuedAfter} ms after the crash, Solid Queue's prune fails it after ${ALIVE_MS}: ${line}`,
  );
  await waitFor(async () => (await jobState(db.url, schema, id)).finished, {
    what: "dyno-b's stand-in to finish the job",
  });
  const runs = await events(db.url, schema, id);
  assert.deepEqual(
    runs.map((e) => e.event),
    ["started", "started", "finished"],
  );
  assert.notEqual(runs[1]!.pid, pidA);
  assert.equal((await jobState(db.url, schema, id)).error, null);
  // dyno-a's rows go too, once their own heartbeats are stale-after old; its lease with them.
  await waitFor(async () => (await processes(db.url, schema)).every((p) => p.hostname === "dyno-b"), {
    what: "dyno-a's process rows to go",
  });
  await waitFor(
    async () =>
      (
        await withClient(db.url, (c) =>
          c.query(`SELECT 1 FROM ${schema}.jobguard_leases WHERE host = 'dyno-a'`),
        )
      ).rowCount === 0,
    {
      what: "dyno-a's lease to go",
    },
  );
  await dockerStop(b, 10_000);
  assert.equal((await b.exited).code, 0, b.stderr());
  assert.deepEqual(await processes(db.url, schema), [], "dyno-b's stand-in did not deregister");
});

test("the stand-in killed while jobguard lives: its job is back at once, counted, and failed by jobguard after max-rescues", async () => {
  const schema = await newSchema();
  const id = await enqueue(db.url, schema, 60);
  const crash = async (times: number) => {
    const run = runJobguard(
      [...FAST, "--max-rescues", "1", "--", ...STAND_IN],
      solidQueueEnv(db.url, schema),
    );
    const tree = await standInPids(db.url, schema, await started(db.url, schema, id, times));
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

test("a claim taken after the dead lease's last heartbeat waits for a later sweep, and its process row with it", async () => {
  const schema = await newSchema();
  const [old, young] = [await enqueue(db.url, schema, 1), await enqueue(db.url, schema, 1)];
  await rescue(schema);
  const row = await insertProcess(db.url, schema, { hostname: "dyno-l", pid: 4242, ago: "1 hour" });
  await claim(db.url, schema, old, row, "1 hour");
  await claim(db.url, schema, young, row);
  await deadLease(schema, "late-claim", "dyno-l", [4242]);
  assert.match(await rescue(schema), /0 dead lease\(s\) removed, 1 job\(s\) released/);
  assert.deepEqual(await jobState(db.url, schema, old), backInQueue());
  assert.equal(
    (await jobState(db.url, schema, young)).claimedBy,
    row,
    "a claim younger than stale-after was released",
  );
  assert.deepEqual(
    (await processes(db.url, schema)).map((p) => p.id),
    [row],
    "the process row went before its claims: Solid Queue would fail them",
  );
});

test("a poison job that keeps killing its dyno gets a failed execution from jobguard after max-rescues", async () => {
  const schema = await newSchema();
  const id = await enqueue(db.url, schema, 1);
  await rescue(schema);
  for (let crash = 1; crash <= 4; crash++) {
    const host = `dyno-p${crash}`;
    const supervisor = await insertProcess(db.url, schema, {
      kind: "Supervisor(fork)",
      hostname: host,
      pid: 4,
      ago: "1 hour",
    });
    const worker = await insertProcess(db.url, schema, {
      hostname: host,
      pid: 5,
      supervisorId: supervisor,
      ago: "1 hour",
    });
    await claim(db.url, schema, id, worker, "1 hour");
    await deadLease(schema, `poison-${crash}`, host, [4, 5]);
    const out = await rescue(schema, ["--max-rescues", "3"]);
    if (crash <= 3)
      assert.match(
        out,
        new RegExp(`1 dead lease\\(s\\) removed, 1 job\\(s\\) released.*\\n  released: ${id}\\n`),
        `crash ${crash}`,
      );
    else assert.match(out, new RegExp(`failed \\(rescued more than 3 times\\): ${id}`));
    assert.deepEqual(await processes(db.url, schema), [], `crash ${crash}: the dead dyno's rows remain`);
  }
  const state = await jobState(db.url, schema, id);
  assert.equal(state.ready, null);
  assert.equal(state.claimedBy, null);
  assert.equal(state.error?.exception_class, "JobGuard::RescueLimitExceeded");
  assert.match(
    state.error?.message ?? "",
    /^jobguard: rescued from dead workers more than 3 times; .* \(last process: Worker worker-\S+ host:dyno-p4 pid:5\)$/,
  );
});
