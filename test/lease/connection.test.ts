import assert from "node:assert/strict";
import { after, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { withClient } from "../../tools/db.js";
import { createDelayedJobsTable, fileDatabase } from "../support/db.js";
import { dockerStop, killLeftovers, runJobguard } from "../support/jobguard.js";
import { waitFor } from "../support/wait.js";

// JOBGUARD_CONNECTION: what an idle jobguard holds between heartbeats (docs/database.md).
after(killLeftovers);

const db = fileDatabase({ setup: (url) => createDelayedJobsTable(url, "jobs") });

/** jobguard's sessions on the test database, sampled every 50 ms for `ms`. */
async function sessionsOver(ms: number): Promise<number[]> {
  const samples: number[] = [];
  for (const until = Date.now() + ms; Date.now() < until; await sleep(50)) {
    samples.push(
      await withClient(
        db.url,
        async (c) =>
          (
            await c.query<{ n: number }>(
              "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'jobguard' AND datname = current_database()",
            )
          ).rows[0]!.n,
      ),
    );
  }
  return samples;
}

for (const mode of ["per-heartbeat", "keep"] as const) {
  test(`JOBGUARD_CONNECTION=${mode}: ${mode === "keep" ? "one connection held from start to exit" : "no connection held between heartbeats"}, and the heartbeats go on`, async () => {
    const leases = `leases_${mode.replace("-", "_")}`;
    // Stale-after 40 s: the first sweep, on a connection of its own, comes 8 s or more after the start, past the samples.
    const run = runJobguard(["--heartbeat", "1", "--stale-after", "40", "--", "sleep", "30"], {
      JOBGUARD_QUEUE: "delayed_job",
      JOBGUARD_TABLE: "jobs",
      JOBGUARD_LEASE_TABLE: leases,
      JOBGUARD_CONNECTION: mode,
      DATABASE_URL: db.url,
    });
    const beat = () =>
      withClient(
        db.url,
        async (c) =>
          (await c.query<{ heartbeat_at: Date }>(`SELECT heartbeat_at FROM ${leases}`)).rows[0]?.heartbeat_at,
      );
    const first = await waitFor(beat, { what: "the first heartbeat" });
    const samples = await sessionsOver(2500);
    assert.ok((await beat())! > first, "no heartbeat in 2.5 s");
    if (mode === "keep") assert.deepEqual([...new Set(samples)], [1], `samples: ${samples.join(",")}`);
    else {
      assert.ok(
        samples.every((n) => n <= 1),
        `samples: ${samples.join(",")}`,
      );
      assert.ok(
        samples.filter((n) => n === 0).length > samples.length / 2,
        `mostly none: ${samples.join(",")}`,
      );
    }
    await dockerStop(run, 5000);
    assert.equal((await run.exited).code, 143);
  });
}
