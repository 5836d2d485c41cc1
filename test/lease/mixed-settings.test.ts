import assert from "node:assert/strict";
import { after, test } from "node:test";
import { withClient } from "../../tools/db.js";
import { fileDatabase, getJob } from "../support/db.js";
import { createJobEventsTable, requireDelayedJob } from "../support/delayed-job.js";
import {
  assertKeptFor,
  clientPortsOf,
  jobStarted,
  killDyno,
  leaseRenewed,
  QUICK_STALE_MS,
  tableWithJob,
  workerDyno,
} from "../support/fleet.js";
import { killLeftovers, type Run } from "../support/jobguard.js";
import { requireHostnames } from "../support/prerequisites.js";

// Issue 14, item 2: dynos of two releases side by side during a deploy, with
// different lease settings. Dyno A runs on the defaults (heartbeat 10 s,
// stale-after 60 s), dyno B sweeps on a fast timing (stale-after 6 s); the
// server ends A's worker's session meanwhile. B judges A's lease by the
// timing A wrote it with, so A's live lock is never released.

after(killLeftovers);

const db = fileDatabase({ setup: createJobEventsTable });

/** Ends the sessions a process holds on the test server (found by their client ports), as a server or a pooler's reaper would. */
async function endSessionsOf(pid: number): Promise<number> {
  const ports = clientPortsOf(pid);
  return withClient(
    db.url,
    async (c) =>
      (
        await c.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE client_port = ANY($1::int[]) AND pid <> pg_backend_pid()`,
          [ports],
        )
      ).rowCount ?? 0,
  );
}

test("dyno A on the default timing, dyno B on a fast one: B never releases A's live lock, even once A's worker lost its session", async (t) => {
  if (!requireDelayedJob(t) || !requireHostnames(t)) return;
  const label = "mixed";
  const { table, id } = await tableWithJob(db.url, label);
  // The defaults: heartbeat 10 s, stale-after 60 s, grace 30 s.
  const a = workerDyno("dyno-a", db.url, table, { timing: [] });
  let b: Run | undefined;
  try {
    const pid = await jobStarted(db.url, label);
    const name = `host:dyno-a pid:${pid}`;
    assert.equal((await getJob(db.url, id, table))?.locked_by, name);
    await leaseRenewed(db.url, table, "dyno-a", pid);
    b = workerDyno("dyno-b", db.url, table);
    assert.ok((await endSessionsOf(pid)) > 0, "dyno A's worker held no session to end");
    // Longer than B's stale-after past one of A's 10 s heartbeat gaps, wherever the gap falls.
    await assertKeptFor(10_000 + QUICK_STALE_MS, { url: db.url, table, id, label }, { pid, name }, [a, b]);
  } finally {
    await killDyno(a);
    if (b) await killDyno(b);
  }
});
