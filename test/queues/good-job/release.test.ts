import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { after, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { withClient } from "../../../tools/db.js";
import { ADVISORY_WORKER, holdsItsLock, lockIsFree } from "../../support/advisory-locks.js";
import { fileDatabase } from "../../support/db.js";
import { dockerStop, killLeftovers, OWNED, runJobguard, tempDir } from "../../support/jobguard.js";
import { waitFor } from "../../support/wait.js";

// Queues whose job locks are advisory locks of the worker's session (GoodJob's
// default strategy, Que): the lock ends with the session. A worker killed in
// the middle of a long query keeps its session, and the lock, until the query
// ends; jobguard ends the session at the kill. Que: test/queues/que/release.test.ts.

after(killLeftovers);
const db = fileDatabase();

let keys = 7000;

test("without jobguard: a worker SIGKILLed in a long query keeps its advisory lock", async () => {
  const key = ++keys;
  const events = join(tempDir(), "events");
  const worker = spawn(ADVISORY_WORKER[0]!, ADVISORY_WORKER.slice(1), {
    env: { ...process.env, ...OWNED, DATABASE_URL: db.url, LOCK_KEY: String(key), EVENTS: events },
    stdio: "ignore",
  });
  const { backend } = await holdsItsLock(events);
  worker.kill("SIGKILL");
  await sleep(1000);
  assert.equal(
    await lockIsFree(db.url, key),
    false,
    "the lock ended with the worker: this test proves nothing",
  );
  await withClient(db.url, (c) => c.query("SELECT pg_terminate_backend($1)", [backend]));
});

test("GoodJob: jobguard ends the killed worker's tagged session, and its advisory lock with it", async () => {
  const key = ++keys;
  const events = join(tempDir(), "events");
  const run = runJobguard(["--deadline", "1", "--grace", "4", "--", ...ADVISORY_WORKER], {
    JOBGUARD_QUEUE: "good_job",
    DATABASE_URL: db.url,
    LOCK_KEY: String(key),
    EVENTS: events,
  });
  const { backend } = await holdsItsLock(events);
  assert.equal(await lockIsFree(db.url, key), false);
  await dockerStop(run, 4000);
  assert.equal((await run.exited).code, 124);
  assert.match(
    run.stderr(),
    new RegExp(
      `event=sessions_terminated tag=jobguard-[0-9a-f]{16} sessions=1 backends=${backend}:active advisory_locks=1`,
    ),
  );
  await waitFor(() => lockIsFree(db.url, key), { timeoutMs: 3000, what: "the advisory lock to be free" });
});
