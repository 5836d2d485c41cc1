import assert from "node:assert/strict";
import { after, test, type TestContext } from "node:test";
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
  databaseNow,
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
import { killLeftovers } from "../support/jobguard.js";
import { ownPostgresSkipReason, startOwnPostgres, type OwnPostgres } from "../support/own-postgres.js";
import { prerequisite, requireHostnames } from "../support/prerequisites.js";
import { tcpProxy, type Proxy } from "../support/proxy.js";
import { waitFor } from "../support/wait.js";

// Issue 14, item 1: a failover. The fleet reaches the database at one
// address (a proxy, standing in for the DNS name or virtual IP a managed
// database moves); the primary fails, its streaming standby is promoted and
// the address moves to it. As after any other event, a dyno that then dies
// has its job back within stale-after plus a sweep, and a live one keeps it.

after(killLeftovers);

const servers: OwnPostgres[] = [];
after(async () => {
  for (const s of servers) await s.destroy();
});

function ready(t: TestContext): boolean {
  return (
    prerequisite(t, "JOBGUARD_REQUIRE_OWN_POSTGRES", ownPostgresSkipReason()) &&
    requireDelayedJob(t) &&
    requireHostnames(t)
  );
}

/** A primary with a streaming standby, behind one address. */
async function replicatedDatabase(): Promise<{ primary: OwnPostgres; standby: OwnPostgres; proxy: Proxy }> {
  const primary = await startOwnPostgres();
  servers.push(primary);
  await createJobEventsTable(primary.url);
  const standby = await primary.standby();
  servers.push(standby);
  return { primary, standby, proxy: await tcpProxy(primary.url) };
}

/**
 * Waits until the standby has replayed everything the primary had committed
 * by now. The insert position, not pg_current_wal_lsn() (the write position):
 * the test servers run with synchronous_commit = off, so a commit (dyno B's
 * first write) is answered before its WAL is written, and the write position
 * may lie before it; the crash then loses it, and dyno B, its lease gone,
 * stops its worker. What comes after (each dyno's renewals up to the crash)
 * may still be lost: the fence allows for that.
 */
async function caughtUp(primary: OwnPostgres, standby: OwnPostgres): Promise<void> {
  const lsn = await withClient(
    primary.url,
    async (c) =>
      (await c.query<{ lsn: string }>("SELECT pg_current_wal_insert_lsn()::text AS lsn")).rows[0]!.lsn,
  );
  await waitFor(
    () =>
      withClient(
        standby.url,
        async (c) =>
          (await c.query<{ ok: boolean }>("SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok", [lsn]))
            .rows[0]?.ok,
      ),
    { what: "the standby to catch up" },
  );
}

/**
 * Dyno A's long job and dyno B beside it, then the failover; resolves once A's
 * lease is renewed on the new primary. The dynos beat every 0.5 s (ROOMY): a
 * standby a second behind loses several renewals, which the fence allows for
 * (it counts from a renewal confirmed the replication lag, 2 s, before the
 * latest was sent: lease/fence.ts).
 */
async function failoverDuringJob(label: string) {
  const { primary, standby, proxy } = await replicatedDatabase();
  const url = proxy.url;
  const { table, id } = await tableWithJob(url, label);
  const a = workerDyno("dyno-a", url, table, { timing: ROOMY });
  const pid = await jobStarted(url, label);
  const name = `host:dyno-a pid:${pid}`;
  assert.equal((await getJob(url, id, table))?.locked_by, name);
  await leaseRenewed(url, table, "dyno-a", pid);
  const b = workerDyno("dyno-b", url, table, { timing: ROOMY });
  await waitFor(
    () =>
      withClient(
        url,
        async (c) => (await c.query(`SELECT 1 FROM leases_${table} WHERE host = 'dyno-b'`)).rowCount,
      ),
    { what: "dyno-b's first heartbeat" },
  );
  await caughtUp(primary, standby);
  const at = await databaseNow(url);
  await primary.crash();
  await standby.promote();
  proxy.retarget(standby.url);
  await leaseRenewed(url, table, "dyno-a", pid, at);
  return { url, table, id, a, b, proxy, worker: { pid, name } };
}

test("a failover to the streaming standby, then dyno A dies: its job is back within stale-after plus a sweep, run by dyno B", async (t) => {
  if (!ready(t)) return;
  const label = "failover-dies";
  const { url, table, id, a, b, proxy, worker } = await failoverDuringJob(label);
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
    proxy.close();
  }
});

test("a failover to the streaming standby, dyno A alive: its job is never taken from it, for longer than stale-after", async (t) => {
  if (!ready(t)) return;
  const label = "failover-lives";
  const { url, table, id, a, b, proxy, worker } = await failoverDuringJob(label);
  try {
    await assertKeptFor(ROOMY_STALE_MS + 2 * ROOMY_SWEEP_MS, { url, table, id, label }, worker, [a, b]);
    assert.doesNotMatch(
      a.stderr(),
      /event=lease_lost/,
      "dyno-a's jobguard fenced itself after a short failover",
    );
  } finally {
    await killDyno(a);
    await killDyno(b);
    proxy.close();
  }
});
