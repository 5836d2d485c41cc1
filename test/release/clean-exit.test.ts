import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  createDelayedJobsTable,
  freshDatabase,
  getJob,
  insertJob,
  type FreshDatabase,
} from "../support/db.js";
import { withClient } from "../../tools/db.js";
import { waitFor } from "../support/wait.js";
import { killLeftovers, runJobguard, tempDir } from "../support/jobguard.js";
import { PG_WORKER, lockJobSql, workerReady } from "../support/pg-worker.js";
import { isAlive } from "../../tools/processes.js";

// No lock stranded after an exit 0: with a queue, the release runs whenever
// the tree's history holds a dead process, whatever the worker's status.

after(killLeftovers);

let db: FreshDatabase;
before(async () => (db = await freshDatabase()));
after(async () => db?.drop());

test("the worker exits 0 while a grandchild holding a lock lives on: the leftover SIGTERM ends it, its lock is released, then the lease dropped", async () => {
  const table = "clean_exit_jobs";
  await createDelayedJobsTable(db.url, table);
  const id = await insertJob(db.url, { table, handler: "--- {}\n" });
  const dir = tempDir();
  const [events, go] = [join(dir, "events"), join(dir, "go")];
  // The worker starts a child that locks the job under its own delayed_job
  // name, and exits 0 when told; the child dies of jobguard's SIGTERM to the
  // leftovers, still holding the lock.
  const worker = `${PG_WORKER.join(" ")} & while [ ! -e ${go} ]; do sleep 0.05; done; exit 0`;
  const run = runJobguard(["--deadline", "3", "--grace", "5", "--", "sh", "-c", worker], {
    JOBGUARD_QUEUE: "delayed_job",
    JOBGUARD_TABLE: table,
    DATABASE_URL: db.url,
    EVENTS: events,
    LOCK_SQL: lockJobSql(table, id),
    ON_TERM: "die",
  });
  const leases = async () =>
    (
      await withClient(db.url, (c) =>
        c.query<{ n: number }>("SELECT count(*)::int AS n FROM jobguard_leases"),
      )
    ).rows[0]!.n;
  const { pid } = await workerReady(events);
  // Once jobguard's lease is there, so that its drop below means something.
  await waitFor(async () => (await leases()) > 0, { what: "jobguard's lease" });
  writeFileSync(go, "");
  const exit = await run.exited;
  assert.equal(exit.code, 0, run.stderr());
  assert.match(run.stderr(), new RegExp(`event=leftovers signal=SIGTERM pids=(\\d+,)*${pid}\\b`));
  assert.doesNotMatch(run.stderr(), /deadline_exceeded/);
  assert.equal(isAlive(pid), false);
  assert.match(run.stderr(), new RegExp(`event=locks_released queue=delayed_job jobs=1 ids=${id} pids=`));
  assert.equal((await getJob(db.url, id, table))?.locked_by, null, "the dead child's lock was stranded");
  assert.equal(await leases(), 0, "the lease was not dropped after the release");
});

test("a worker that ends before its lease was ever written: jobguard exits 0 and drops nothing, with no database to wait for", async () => {
  // A port nothing listens on: every connection is refused, so no write of the lease is ever sent.
  const server = createServer();
  await new Promise<void>((listening) => server.listen(0, "127.0.0.1", listening));
  const { port } = server.address() as AddressInfo;
  await new Promise((closed) => server.close(closed));
  const run = runJobguard(["--grace", "3", "--log-level", "debug", "--", "true"], {
    JOBGUARD_QUEUE: "delayed_job",
    DATABASE_URL: `postgres://jobguard@127.0.0.1:${port}/none`,
  });
  const exit = await run.exited;
  assert.equal(exit.code, 0, run.stderr());
  assert.match(run.stderr(), /event=tree_gone/);
  // Before, the drop waited for the first heartbeat's connection and tried one of its own.
  assert.doesNotMatch(run.stderr(), /lease_drop_failed/);
});
