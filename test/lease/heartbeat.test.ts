import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { withClient } from "../../tools/db.js";
import { isAlive } from "../../tools/processes.js";
import { fileDatabase, getJob, insertJob } from "../support/db.js";
import { dockerStop, fixture, killLeftovers, runJobguard, tempDir } from "../support/jobguard.js";
import { delayedJobLeases, FAST, fastLeases, leaseTestDatabase } from "../support/lease.js";
import { PG_WORKER, lockJobSql, workerReady } from "../support/pg-worker.js";
import { tcpProxy } from "../support/proxy.js";
import { waitFor } from "../support/wait.js";

// The lease's heartbeats: what the lease lists of the worker's tree (rule 6),
// and a database that goes away under them.

after(killLeftovers);

const db = fileDatabase({ create: leaseTestDatabase });

const { newTable, env } = delayedJobLeases(db);

test("the lease forgets children that died without a lock, keeps one that died holding a lock, and the release frees its job", async () => {
  const table = await newTable();
  const dir = tempDir();
  const [events, pids] = [join(dir, "events"), join(dir, "pids")];
  const id = await insertJob(db.url, { table, handler: "x" });
  // A child that takes a lock and dies with it, then children that shell out
  // and die, each alive long enough for the 2 s scan of the tree to see it.
  const worker = `${PG_WORKER.join(" ")}
    for i in 1 2 3; do sleep 2.5 & echo $! >> ${pids}; wait; done
    echo DONE >> ${events}; trap "" TERM; exec sleep 600`;
  const run = runJobguard(
    ["--deadline", "1", ...fastLeases(4), "--", "sh", "-c", worker],
    env(table, {
      EVENTS: events,
      LOCK_SQL: lockJobSql(table, id),
      EXIT_AFTER_MS: "2500",
    }),
  );
  const { pid: locker } = await workerReady(events);
  const leasePids = async () =>
    (await withClient(db.url, (c) => c.query<{ pids: number[] }>(`SELECT pids FROM leases_${table}`))).rows[0]
      ?.pids ?? [];
  const everSeen = new Set<number>();
  await waitFor(
    async () => {
      for (const pid of await leasePids()) everSeen.add(pid);
      return readFileSync(events, "utf8").includes("DONE");
    },
    { timeoutMs: 20_000, what: "the worker to be done shelling out" },
  );
  const children = readFileSync(pids, "utf8").split("\n").filter(Boolean).map(Number);
  assert.ok(
    children.some((pid) => everSeen.has(pid)),
    "the lease never listed a child: the test proves nothing",
  );
  const lease = await waitFor(
    async () => {
      const now = await leasePids();
      return children.every((pid) => !now.includes(pid)) && now;
    },
    { timeoutMs: 5000, what: "the dead children to leave the lease" },
  );
  assert.ok(lease.includes(locker), `the dead worker holding a lock left the lease: ${lease.join(",")}`);

  await dockerStop(run, 4000);
  assert.equal((await run.exited).code, 124);
  assert.match(run.stderr(), new RegExp(`event=locks_released queue=delayed_job jobs=1 ids=${id} `));
  assert.equal((await getJob(db.url, id, table))?.locked_by, null);
});

test("the database down during heartbeats: the worker runs on, and heartbeats resume", async () => {
  const table = await newTable();
  const proxy = await tcpProxy(db.url);
  const events = join(tempDir(), "events");
  const run = runJobguard([...FAST, "--", fixture("worker.sh")], {
    ...env(table),
    JOBGUARD_DATABASE_URL: proxy.url,
    EVENTS: events,
  });
  const heartbeatAt = async () =>
    withClient(
      db.url,
      async (c) =>
        (await c.query<{ at: Date | null }>(`SELECT max(heartbeat_at) AS at FROM leases_${table}`)).rows[0]
          ?.at,
    );
  await waitFor(heartbeatAt, { what: "the first heartbeat" });
  proxy.close();
  await run.waitFor(/event=heartbeat_failed error="heartbeat failed, the worker runs on: /);
  const during = await heartbeatAt();
  await sleep(1500);
  assert.ok(isAlive(run.pid) && readFileSync(events, "utf8").includes("READY"));
  assert.doesNotMatch(readFileSync(events, "utf8"), /TERM/, "the worker was told to stop");
  await proxy.reopen();
  await run.waitFor(/event=heartbeat_resumed/, 5000);
  assert.ok((await heartbeatAt())! > during!, "no heartbeat after the database came back");
  assert.ok(!run.stderr().includes(proxy.password), "the password was logged");
  await dockerStop(run, 3000);
  assert.equal((await run.exited).code, 0);
  proxy.close();
});
