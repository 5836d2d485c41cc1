import { connect } from "../../src/db/connect.js";
import { fmt, fmtMs } from "../lib/common.js";
import { onBenchDatabase } from "../lib/db.js";
import type { RowResult, Sizes } from "../lib/report.js";
import { CONNECTION_MARGIN, heartbeatLoad } from "./rescue/heartbeats.js";
import { sweepCost } from "./rescue/sweep.js";

const TITLE = "Rescue cost";

/** Row 6: one sweep over 1,000 leases and 1,000,000 jobs, and the database load of 100 dynos' heartbeats. */
export async function rescueRow(sizes: Sizes): Promise<RowResult> {
  const live = sizes.rescueLeases - sizes.rescueDead;
  const jobs = sizes.releaseRows.toLocaleString("en");
  const method =
    `(a) **Sweep.** A database of its own on the bench's PostgreSQL (as row 5) gets delayed_job's table with ` +
    `${jobs} jobs (row 5's generator) and jobguard's lease tables. Its ${sizes.rescueLeases.toLocaleString("en")} leases: ` +
    `${live.toLocaleString("en")} live (a fresh heartbeat, renewed before each sweep) holding the 1% of jobs that are locked ` +
    `(\`delayed_job host:live-<n> pid:<4–6>\`, ≈${Math.round(sizes.releaseRows / 100 / Math.max(1, live))} each, locked up to 10 min ago), and ` +
    `${sizes.rescueDead} dead ones (heartbeat 10 min old, a session tag with no open session, pids 4–6), each holding ` +
    `${sizes.rescueJobsPerDead} jobs locked 10 min ago; before every sweep the dead leases and their locks are planted anew, ` +
    `on jobs never rescued before. Stale-after is ${sizes.rescueStaleAfterSec} s. Each sweep is timed twice over: ` +
    `jobguard's own \`sweep()\` (build/src/lease/sweep.js) called on an open connection, with every statement timed by ` +
    `kind ("sweep() alone"), and \`jobguard rescue\` as a user runs it, from spawn to exit ("CLI end to end": Node ` +
    `start-up, connect, schema check, sweep). Sweeps that find no stale lease — what every running jobguard does every ` +
    `max(heartbeat, stale-after/4) — are timed too. With delayed_job's own index only, a sweep reads the whole table ` +
    `twice (the rescue and the "still holding?" read, once for all dead leases), so those sweeps plant ` +
    `${sizes.rescueNoIndexDead} dead leases (beside the ${live.toLocaleString("en")} live ones), ${sizes.rescueNoIndexRuns} ` +
    `time(s)${sizes.rescueNoIndexDead === sizes.rescueDead ? "" : `, and the cost of ${sizes.rescueDead} is extrapolated from the time per dead lease`}; ` +
    `with the recommended index: one discarded warm-up, then ${sizes.rescueRuns} direct sweeps and ` +
    `${sizes.rescueCliRuns} CLI runs, interleaved. Every sweep is checked to have released exactly the dead leases' jobs ` +
    `and removed exactly the dead leases, and the live leases' locks are counted at the end.\n\n` +
    `(b) **Heartbeats**, measured first, before the jobs table is filled. ${sizes.heartbeatDynos} dynos renew their ` +
    `leases every ${sizes.heartbeatSec} s (the default is 10 s; the load scales with 1/interval) in a lease table of ` +
    `their own: one a real \`jobguard --queue delayed_job --heartbeat ${sizes.heartbeatSec} -- sleep\`, the others the ` +
    `bench calling jobguard's own \`heartbeat()\` (the same UPDATE, over a client of the same kind), each lease at its own random ` +
    `phase, on connections opened like jobguard's — one per dyno when the server has that many to spare with ` +
    `${CONNECTION_MARGIN} left over, else as many as it can spare. (Not ${sizes.heartbeatDynos} real processes: each ` +
    `jobguard reads /proc to find its worker tree at every heartbeat and every 2 s, so on one small host ` +
    `${sizes.heartbeatDynos} of them load the CPU with each other's processes, which a dyno never sees.) ` +
    `An idle window (nothing of ` +
    `jobguard's connected) and a loaded window of ${sizes.heartbeatWindowSec} s each are compared: heartbeats written ` +
    `(the commits of this database's transactions in the WAL, via pg_walinspect where it can be created, else by ` +
    `polling the leases' heartbeat_at every ${sizes.heartbeatSec / 4} s — the poll runs in both windows), server CPU ` +
    `(utime + stime of every process of the PostgreSQL server from /proc, reaped children included; and of the ` +
    `heartbeat sessions' backends alone), WAL generated (pg_current_wal_lsn, cluster-wide; and this database's ` +
    `records only, via pg_walinspect), each bench-driven heartbeat's latency, and the real jobguard's own CPU. A ` +
    `CHECKPOINT (when allowed) precedes the idle window. jobguard sweeps only after reaching the database for ` +
    `stale-after without a break (60 s), so no sweep ran in the window; what a fleet's sweeps cost follows from (a). ` +
    `The database is dropped at the end.`;

  return onBenchDatabase({ n: 6, title: TITLE, method }, sizes.smoke, async ({ url, source }) => {
    const client = await connect(url, process.env, {
      application_name: "jobguard-bench",
      options: "-c TimeZone=UTC",
    });
    try {
      const heartbeatNotes: string[] = [];
      const sweepNotes: string[] = [`Database: ${source}.`];
      // Heartbeats first: on a quiet server, before 1,000,000 rows of WAL and their checkpoints.
      const b = await heartbeatLoad(client, url, sizes, heartbeatNotes);
      const a = await sweepCost(client, url, sizes, sweepNotes);
      if (b.dynos) {
        heartbeatNotes.push(
          `A fleet's sweeps: every jobguard sweeps every max(heartbeat, stale-after/4) (15 s at the defaults), so ` +
            `${b.dynos} dynos run ${fmt(b.dynos / 15, 1)} sweeps/s; one that finds no stale lease took ${fmtMs(a.idleMs.with)} ` +
            `(${fmtMs(a.idleMs.without)} without the index) in (a): ≈ ${fmt((b.dynos / 15) * a.idleMs.with, 1)} ms of sweeping ` +
            `(wall time, a handful of statements each) per second for the fleet, beside ≈ ${fmt(b.cpuAt10, 2)} ms of server ` +
            `CPU per second for its heartbeats at 10 s.`,
        );
      }
      return {
        n: 6,
        title: TITLE,
        summary: [...a.summary, ...b.summary],
        tables: [...a.tables, ...b.tables],
        notes: [...sweepNotes, ...heartbeatNotes],
        misses: [],
        method,
      };
    } finally {
      await client.end().catch(() => {});
    }
  });
}
