import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { after, test, type TestContext } from "node:test";
import { withClient } from "../../tools/db.js";
import { descendantsOf, isAlive, parentOf } from "../../tools/processes.js";
import { fileDatabase, getJob, insertJob, newJobsTable } from "../support/db.js";
import { fleetEnv, killDyno, QUICK, QUICK_STALE_MS, QUICK_SWEEP_MS, sweptIds } from "../support/fleet.js";
import { killLeftovers, runJobguard, tempDir, type Run } from "../support/jobguard.js";
import { PG_WORKER, lockJobSql, workerReady } from "../support/pg-worker.js";
import { prerequisite, requireHostnames } from "../support/prerequisites.js";
import { waitFor } from "../support/wait.js";

// Issue 14, item 5: two containers with host networking share a host name,
// each in a pid namespace of its own, so that their workers have the same pid
// and lock jobs under one delayed_job name. Stopping one, or a sweep after
// one died, must never release the other's live lock.

after(killLeftovers);

const db = fileDatabase();
const HOST = "shared-host";

function ready(t: TestContext): boolean {
  const probe = spawnSync("unshare", ["-fp", "--mount-proc", "true"]);
  return (
    requireHostnames(t) &&
    prerequisite(
      t,
      "JOBGUARD_REQUIRE_UNSHARE",
      probe.status === 0 ? null : "pid namespaces need `unshare -fp --mount-proc` (util-linux, as root)",
    )
  );
}

/** A container on host `HOST` in a pid namespace of its own: jobguard and a worker that locks job `id`. */
async function container(
  table: string,
  id: number,
  nth: number,
): Promise<{ run: Run; jobguard: number; name: string }> {
  const events = join(tempDir(), "events");
  const run = runJobguard(
    [...QUICK, "--", ...PG_WORKER],
    fleetEnv(db.url, table, { EVENTS: events, LOCK_SQL: lockJobSql(table, id) }),
    // unshare forks: the pid spawned is unshare's, jobguard is its child (pid 1 inside).
    { hostname: HOST, wrapper: ["unshare", "-fp", "--mount-proc"] },
  );
  const { pid } = await workerReady(events);
  const jobguard = await waitFor(() => descendantsOf(run.pid).find((p) => parentOf(p) === run.pid), {
    what: "jobguard inside its pid namespace",
  });
  await waitFor(
    () =>
      withClient(
        db.url,
        async (c) =>
          (await c.query(`SELECT 1 FROM leases_${table} WHERE host = $1`, [HOST])).rowCount === nth,
      ),
    { timeoutMs: 20_000, what: `lease ${nth} of host ${HOST}` },
  );
  return { run, jobguard, name: `host:${HOST} pid:${pid}` };
}

/** Two containers sharing a host name, each with a job locked under the same name. */
async function twoContainers() {
  const table = await newJobsTable(db.url);
  const [job1, job2] = [
    await insertJob(db.url, { table, handler: "x" }),
    await insertJob(db.url, { table, handler: "x" }),
  ];
  const one = await container(table, job1, 1);
  const two = await container(table, job2, 2);
  assert.equal(one.name, two.name, "the premise: both workers lock under one name");
  for (const id of [job1, job2]) assert.equal((await getJob(db.url, id, table))?.locked_by, one.name);
  return { table, job2, one, two };
}

test("two pid namespaces share a host name: the second jobguard says so at start, and stopping the first never releases the second's live lock", async (t) => {
  if (!ready(t)) return;
  const { table, job2, one, two } = await twoContainers();
  try {
    assert.match(await two.run.waitFor(/event=host_shared /, 20_000), /pid namespace/);
    process.kill(one.jobguard, "SIGTERM");
    await one.run.exited;
    assert.equal((await getJob(db.url, job2, table))?.locked_by, two.name, one.run.stderr());
    assert.ok(isAlive(two.jobguard));
  } finally {
    await killDyno(one.run);
    await killDyno(two.run);
  }
});

test("two pid namespaces share a host name: after the first dies whole, no sweep releases the second's live lock", async (t) => {
  if (!ready(t)) return;
  const { table, job2, one, two } = await twoContainers();
  const sweeper = runJobguard([...QUICK, "--", "sleep", "600"], fleetEnv(db.url, table), {
    hostname: "dyno-sweeper",
  });
  try {
    await killDyno(one.run);
    const until = Date.now() + QUICK_STALE_MS + 2 * QUICK_SWEEP_MS + 2000;
    while (Date.now() < until) {
      assert.equal((await getJob(db.url, job2, table))?.locked_by, two.name, sweeper.stderr());
      assert.ok(!sweptIds(sweeper).includes(String(job2)), sweeper.stderr());
      await new Promise((done) => setTimeout(done, 200));
    }
  } finally {
    await killDyno(two.run);
    await killDyno(sweeper);
  }
});
