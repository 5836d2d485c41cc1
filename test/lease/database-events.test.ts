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
  databaseNow,
  jobStarted,
  killDyno,
  leaseRenewed,
  ROOMY,
  ROOMY_STALE_MS,
  ROOMY_SWEEP_MS,
  sessionsOf,
  SLACK_MS,
  sweptIds,
  tableWithJob,
  workerDyno,
} from "../support/fleet.js";
import { killLeftovers, type Run } from "../support/jobguard.js";
import { ownPostgresSkipReason, startOwnPostgres, type OwnPostgres } from "../support/own-postgres.js";
import { prerequisite, requireHostnames } from "../support/prerequisites.js";
import { waitFor } from "../support/wait.js";

// Issue 14, item 1: the routine events of a production database, on a server
// of the test's own, while a real delayed_job worker runs a long job on dyno
// A and dyno B's jobguard sweeps. After each, a dyno that then dies has its job
// back within stale-after plus a sweep plus a few seconds, as if nothing had
// happened; and a dyno that lives keeps its job for longer than stale-after.

after(killLeftovers);

let server: OwnPostgres | undefined;
before(async () => {
  if (ownPostgresSkipReason()) return;
  server = await startOwnPostgres();
  await createJobEventsTable(server.url);
});
after(async () => server?.destroy());

/** One database event, and what the job of dyno A does meanwhile (`idle`: it holds no connection). */
interface DatabaseEvent {
  name: string;
  idle?: boolean;
  /** What the server is set to before the dynos start. */
  setup?(server: OwnPostgres): Promise<void>;
  /** Brings the event about; resolves once it has had its effect on the worker's session. */
  happen(server: OwnPostgres, workerPid: number): Promise<void>;
  /** Undoes what outlasts the event. */
  undo?(server: OwnPostgres): Promise<void>;
}

const EVENTS: DatabaseEvent[] = [
  {
    name: "every session terminated (a failover's or a maintenance's pg_terminate_backend)",
    happen: async (s) => assert.ok((await s.terminateAll()) > 0),
  },
  {
    name: "a server restart of 1.5 s",
    happen: (s) => s.restart(1500),
  },
  {
    name: "the server closing the idle worker's session (idle_session_timeout)",
    // A session takes the new setting at its next command: set before anyone connects.
    setup: (s) => s.setIdleSessionTimeout(1000),
    async happen(s, workerPid) {
      await waitFor(async () => (await sessionsOf(s.url, workerPid)) === 0, {
        what: "the server to close the worker's idle session",
      });
    },
    undo: (s) => s.setIdleSessionTimeout(0),
  },
  {
    name: "a worker that holds no connection while its job runs",
    idle: true,
    async happen(s, workerPid) {
      await waitFor(async () => (await sessionsOf(s.url, workerPid)) === 0, {
        what: "the worker to close its connection",
      });
    },
  },
];

function ready(t: TestContext): boolean {
  return (
    prerequisite(t, "JOBGUARD_REQUIRE_OWN_POSTGRES", ownPostgresSkipReason()) &&
    requireDelayedJob(t) &&
    requireHostnames(t)
  );
}

/** Dyno A running the event's long job, dyno B sweeping beside it (its own worker idle), and the event over. */
async function eventDuringJob(event: DatabaseEvent, label: string) {
  const url = server!.url;
  await event.setup?.(server!);
  const { table, id } = await tableWithJob(url, label, { idle: event.idle });
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
  const at = await databaseNow(url);
  await event.happen(server!, pid);
  // The event is over for dyno A once its jobguard has renewed its lease since.
  await leaseRenewed(url, table, "dyno-a", pid, at);
  return { url, table, id, a, b, worker: { pid, name } };
}

async function stopAll(...runs: Run[]): Promise<void> {
  for (const run of runs) await killDyno(run);
}

for (const [n, event] of EVENTS.entries()) {
  test(`${event.name}, then dyno A dies: its job is back within stale-after plus a sweep, run by dyno B`, async (t) => {
    if (!ready(t)) return;
    const label = `dies-${n}`;
    const { url, table, id, a, b, worker } = await eventDuringJob(event, label);
    try {
      await killDyno(a);
      const diedAt = Date.now();
      // The rescued run should not take minutes: the test swaps in a short job.
      await withClient(url, (c) =>
        c.query(`UPDATE ${table} SET handler = $1 WHERE id = $2`, [sleepJobHandler(0.1, label), id]),
      );
      const bound = ROOMY_STALE_MS + ROOMY_SWEEP_MS + SLACK_MS;
      await waitFor(() => sweptIds(b).includes(String(id)), {
        timeoutMs: bound,
        intervalMs: 20,
        what: `dyno-b to sweep job ${id} within ${bound} ms of dyno-a's death; its log:\n${b.stderr()}`,
      });
      const rescuedAfter = Date.now() - diedAt;
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
      t.diagnostic(`rescued ${rescuedAfter} ms after the dyno died`);
    } finally {
      await stopAll(a, b);
      await event.undo?.(server!);
    }
  });

  test(`${event.name}, dyno A alive: its job is never taken from it, for longer than stale-after`, async (t) => {
    if (!ready(t)) return;
    const label = `lives-${n}`;
    const { url, table, id, a, b, worker } = await eventDuringJob(event, label);
    try {
      await assertKeptFor(ROOMY_STALE_MS + ROOMY_SWEEP_MS + 2000, { url, table, id, label }, worker, [a, b]);
      assert.doesNotMatch(
        a.stderr(),
        /event=lease_lost/,
        "dyno-a's jobguard fenced itself after a short event",
      );
    } finally {
      await stopAll(a, b);
      await event.undo?.(server!);
    }
  });
}
