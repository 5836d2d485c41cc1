import assert from "node:assert/strict";
import { after, test, type TestContext } from "node:test";
import { withClient } from "../../tools/db.js";
import { isAlive } from "../../tools/processes.js";
import { fileDatabase, getJob } from "../support/db.js";
import {
  createJobEventsTable,
  getJobEvents,
  requireDelayedJob,
  sleepJobHandler,
} from "../support/delayed-job.js";
import {
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
import { requireHostnames } from "../support/prerequisites.js";
import { tcpProxy, type Proxy } from "../support/proxy.js";
import { waitFor } from "../support/wait.js";

// Issue 14, item 2: a dyno cut off from the database while its worker runs a
// job. Its jobguard cannot renew its lease, so it stops its worker
// (event=lease_lost) before any sweeper may judge the lease stale; dyno B
// then sweeps the job and runs it: never two workers on it at once.

after(killLeftovers);

const db = fileDatabase({ setup: createJobEventsTable });

function ready(t: TestContext): boolean {
  return requireDelayedJob(t) && requireHostnames(t);
}

const CUTS: { name: string; cut: (proxy: Proxy) => void }[] = [
  // Packets dropped: connections stay open and silent, as when a NAT forgets them.
  { name: "silent (every packet dropped)", cut: (p) => p.freeze("all") },
  // Connections refused and reset, as when the route is gone.
  { name: "refused (every connection reset)", cut: (p) => p.close() },
];

for (const [n, { name, cut }] of CUTS.entries()) {
  test(`a dyno cut off from the database, ${name}: its jobguard stops its worker before dyno B sweeps the job`, async (t) => {
    if (!ready(t)) return;
    const label = `cut-${n}`;
    const { table, id } = await tableWithJob(db.url, label);
    const proxy = await tcpProxy(db.url);
    // Dyno A reaches the database through the proxy alone: jobguard and worker both.
    const a = workerDyno("dyno-a", proxy.url, table, { timing: ROOMY });
    let b: Run | undefined;
    try {
      const pid = await jobStarted(db.url, label);
      b = workerDyno("dyno-b", db.url, table, { timing: ROOMY });
      assert.equal((await getJob(db.url, id, table))?.locked_by, `host:dyno-a pid:${pid}`);
      await leaseRenewed(db.url, table, "dyno-a", pid);
      // The rescued run should not take minutes: the test swaps in a short job.
      await withClient(db.url, (c) =>
        c.query(`UPDATE ${table} SET handler = $1 WHERE id = $2`, [sleepJobHandler(0.1, label), id]),
      );
      cut(proxy);
      const cutAt = Date.now();

      // Until the sweep, dyno A's worker must be gone whenever the job is seen swept.
      const bound = ROOMY_STALE_MS + ROOMY_SWEEP_MS + SLACK_MS;
      let workerGoneAt: number | undefined;
      await waitFor(
        () => {
          if (workerGoneAt === undefined && !isAlive(pid)) workerGoneAt = Date.now();
          const swept = sweptIds(b!).includes(String(id));
          assert.ok(
            !swept || workerGoneAt !== undefined,
            `dyno B swept the job while dyno A's worker ran it:\n${b!.stderr()}`,
          );
          return swept;
        },
        {
          timeoutMs: bound,
          intervalMs: 10,
          what: `dyno-b to sweep job ${id} within ${bound} ms of the cut; its log:\n${b.stderr()}`,
        },
      );
      t.diagnostic(
        `worker gone ${workerGoneAt! - cutAt} ms after the cut, job swept by ${Date.now() - cutAt} ms`,
      );
      assert.match(
        a.stderr(),
        /event=lease_lost /,
        "dyno-a's jobguard did not say why it stopped its worker",
      );
      await waitFor(async () => (await getJob(db.url, id, table)) === undefined, {
        timeoutMs: 20_000,
        what: "dyno-b's worker to complete the job",
      });
      const events = await getJobEvents(db.url, label);
      assert.deepEqual(
        events.map((e) => e.event),
        ["started", "started", "finished"],
      );
      assert.notEqual(events[1]!.pid, pid);
      // Its jobguard ends too, within its grace, whether or not its release reached the database.
      const exited = await a.exited;
      assert.notEqual(exited.code, 0, a.stderr());
    } finally {
      proxy.close();
      await killDyno(a);
      if (b) await killDyno(b);
    }
  });
}
