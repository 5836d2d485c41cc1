import assert from "node:assert/strict";
import { after, before, test, type TestContext } from "node:test";
import { withClient } from "../../tools/db.js";
import { getJob } from "../support/db.js";
import {
  createJobEventsTable,
  getJobEvents,
  requireDelayedJob,
  sleepJobHandler,
} from "../support/delayed-job.js";
import {
  assertKeptFor,
  jobStarted,
  killDyno,
  leaseRenewed,
  ROOMY,
  ROOMY_STALE_MS,
  ROOMY_SWEEP_MS,
  SLACK_MS,
  sweptIds,
  tableWithJob,
  workerDyno,
} from "../support/fleet.js";
import { killLeftovers, type Run } from "../support/jobguard.js";
import { ownPostgresSkipReason, startOwnPostgres, type OwnPostgres } from "../support/own-postgres.js";
import { pgbouncerSkipReason, startPgbouncer, type Pgbouncer } from "../support/pgbouncer.js";
import { prerequisite, requireHostnames } from "../support/prerequisites.js";
import { waitFor } from "../support/wait.js";

// Issue 14, item 2: rescue through a transaction pooler, with the whole fleet
// (jobguards and workers) behind PgBouncer: one that looks remote to
// PostgreSQL (it reaches the server over its Unix socket, so its server
// connections show no client address of the dynos'), and one local to the
// dynos on 127.0.0.1, as Heroku's PgBouncer buildpack runs it. A dyno that
// dies has its job back in time; a live one keeps it.

after(killLeftovers);

let server: OwnPostgres | undefined;
const poolers: Partial<Record<"remote" | "local", Pgbouncer>> = {};
before(async () => {
  if (ownPostgresSkipReason() || pgbouncerSkipReason()) return;
  server = await startOwnPostgres();
  await createJobEventsTable(server.url);
  poolers.remote = await startPgbouncer(server.url, { serverSocketDir: server.socketDir });
  poolers.local = await startPgbouncer(server.url);
});
after(async () => {
  for (const pooler of Object.values(poolers)) await pooler.stop();
  await server?.destroy();
});

function ready(t: TestContext): boolean {
  return (
    prerequisite(t, "JOBGUARD_REQUIRE_OWN_POSTGRES", ownPostgresSkipReason()) &&
    prerequisite(t, "JOBGUARD_REQUIRE_PGBOUNCER", pgbouncerSkipReason()) &&
    requireDelayedJob(t) &&
    requireHostnames(t)
  );
}

/** A dyno whose jobguard and worker both go through the pooler (ActiveRecord without prepared statements, as transaction pooling needs). */
function pooledDyno(name: string, pooler: Pgbouncer, table: string): Run {
  return workerDyno(name, pooler.url, table, {
    timing: ROOMY,
    env: { JOBGUARD_DATABASE_URL: pooler.url, DATABASE_URL: `${pooler.url}?prepared_statements=false` },
  });
}

/** Dyno A running a long job through the pooler, dyno B beside it, both pooled. */
async function pooledJob(where: "remote" | "local", label: string) {
  const url = server!.url;
  const pooler = poolers[where]!;
  const { table, id } = await tableWithJob(url, label);
  const a = pooledDyno("dyno-a", pooler, table);
  const pid = await jobStarted(url, label);
  const name = `host:dyno-a pid:${pid}`;
  assert.equal((await getJob(url, id, table))?.locked_by, name);
  await leaseRenewed(url, table, "dyno-a", pid);
  const b = pooledDyno("dyno-b", pooler, table);
  return { url, table, id, a, b, worker: { pid, name } };
}

for (const where of ["remote", "local"] as const) {
  test(`through a ${where} PgBouncer in transaction mode, dyno A dies: its job is back within stale-after plus a sweep`, async (t) => {
    if (!ready(t)) return;
    const label = `pooled-dies-${where}`;
    const { url, table, id, a, b, worker } = await pooledJob(where, label);
    try {
      await killDyno(a);
      const diedAt = Date.now();
      await withClient(url, (c) =>
        c.query(`UPDATE ${table} SET handler = $1 WHERE id = $2`, [sleepJobHandler(0.1, label), id]),
      );
      const bound = ROOMY_STALE_MS + ROOMY_SWEEP_MS + SLACK_MS;
      await waitFor(() => sweptIds(b).includes(String(id)), {
        timeoutMs: bound,
        intervalMs: 20,
        what: `dyno-b to sweep job ${id} within ${bound} ms of dyno-a's death; its log:\n${b.stderr()}`,
      });
      t.diagnostic(`rescued ${Date.now() - diedAt} ms after the dyno died`);
      await waitFor(async () => (await getJob(url, id, table)) === undefined, {
        timeoutMs: 20_000,
        what: "dyno-b's worker to complete the job",
      });
      const events = await getJobEvents(url, label);
      assert.deepEqual(
        events.map((e) => e.event),
        ["started", "started", "finished"],
      );
      assert.notEqual(events[1]!.pid, worker.pid);
    } finally {
      await killDyno(a);
      await killDyno(b);
    }
  });

  test(`through a ${where} PgBouncer in transaction mode, dyno A alive: its job is never taken from it`, async (t) => {
    if (!ready(t)) return;
    const label = `pooled-lives-${where}`;
    const { url, table, id, a, b, worker } = await pooledJob(where, label);
    try {
      await assertKeptFor(ROOMY_STALE_MS + 2 * ROOMY_SWEEP_MS, { url, table, id, label }, worker, [a, b]);
      assert.doesNotMatch(a.stderr(), /event=lease_lost/);
    } finally {
      await killDyno(a);
      await killDyno(b);
    }
  });
}
