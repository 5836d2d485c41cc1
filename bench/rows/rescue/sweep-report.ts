import { fmtMs, summarize } from "../../lib/common.js";
import { RECOMMENDED_INDEX_NAME } from "../../lib/db.js";
import { table, type Sizes, type SummaryLine } from "../../lib/report.js";
import { KINDS, type Timed } from "./timing.js";

/** The two index set-ups row 6 (a) sweeps under. */
export type Variant = "without" | "with";

/** How the report names each set-up. */
export const LABELS: Record<Variant, string> = {
  without: "delayed_job's own index only",
  with: `+ ${RECOMMENDED_INDEX_NAME} (recommended)`,
};

/** What row 6 (a) measured. */
export interface SweepRuns {
  sizes: Sizes;
  /** Sweeps that found no stale lease, and sweeps of `dead` dead leases, by set-up. */
  idle: Record<Variant, Timed[]>;
  full: Record<Variant, Timed[]>;
  dead: Record<Variant, number>;
  /** `jobguard rescue`, end to end, with the recommended index. */
  cliMs: number[];
  /** The scans of the rescue UPDATE and of the "any lock left?" EXISTS, by set-up. */
  plans: Record<Variant, { rescue: string; left: string }>;
  /** Jobs the live leases hold. */
  liveLocks: number;
  /** The heartbeat of the jobguard the sweeps stand for. */
  heartbeatMs: number;
}

/** Row 6 (a)'s summary lines and tables; its remarks go to `notes`. */
export function sweepReport(
  { sizes, idle, full, dead, cliMs, plans, liveLocks, heartbeatMs }: SweepRuns,
  notes: string[],
): { summary: SummaryLine[]; tables: string[]; idleMs: Record<Variant, number> } {
  const live = sizes.rescueLeases - sizes.rescueDead;
  const jobs = sizes.releaseRows.toLocaleString("en");
  const idleMs = {
    without: summarize(idle.without.map((t) => t.ms)).median,
    with: summarize(idle.with.map((t) => t.ms)).median,
  };
  const sw = summarize(full.without.map((t) => t.ms));
  const si = summarize(full.with.map((t) => t.ms));
  const sc = summarize(cliMs);
  const medianRun = (ts: Timed[]) => [...ts].sort((x, y) => x.ms - y.ms)[Math.ceil(ts.length / 2) - 1];
  const mw = medianRun(full.without);
  const mi = medianRun(full.with);
  // What each dead lease adds to a sweep, from the median sweep of each set-up.
  const perDead = (t: Timed | undefined, v: Variant) => (t ? (t.ms - idleMs[v]) / dead[v] : NaN);
  const pdw = perDead(mw, "without");
  const pdi = perDead(mi, "with");
  const extrapolated = idleMs.without + pdw * sizes.rescueDead;

  const rows: string[][] = [];
  const line = (v: Variant, deadLeases: number, how: string, ms: number[], released: string) => {
    const s = summarize(ms);
    const leases = live + deadLeases;
    rows.push([
      LABELS[v],
      `${deadLeases} of ${leases.toLocaleString("en")}`,
      how,
      fmtMs(s.min),
      fmtMs(s.median),
      fmtMs(s.p99),
      fmtMs(s.max),
      released,
      String(s.n),
    ]);
  };
  const releasedOf = (ts: Timed[]) => [...new Set(ts.map((t) => t.result.released.length))].join(", ");
  line(
    "without",
    0,
    "sweep() alone",
    idle.without.map((t) => t.ms),
    releasedOf(idle.without),
  );
  line(
    "without",
    dead.without,
    "sweep() alone",
    full.without.map((t) => t.ms),
    releasedOf(full.without),
  );
  if (dead.without !== sizes.rescueDead) {
    rows.push([
      LABELS.without,
      `${sizes.rescueDead} of ${sizes.rescueLeases.toLocaleString("en")}`,
      "extrapolated: no stale lease + dead × per dead lease",
      "",
      fmtMs(extrapolated),
      "",
      "",
      String(sizes.rescueDead * sizes.rescueJobsPerDead),
      "–",
    ]);
  }
  line(
    "with",
    0,
    "sweep() alone",
    idle.with.map((t) => t.ms),
    releasedOf(idle.with),
  );
  line(
    "with",
    dead.with,
    "sweep() alone",
    full.with.map((t) => t.ms),
    releasedOf(full.with),
  );
  line(
    "with",
    dead.with,
    "`jobguard rescue`, CLI end to end",
    cliMs,
    String(dead.with * sizes.rescueJobsPerDead),
  );

  const kindRows = KINDS.map(({ kind, label }) => {
    const cell = (t: Timed | undefined) => {
      const k = t?.byKind.get(kind);
      return k ? `${k.n} × ${fmtMs(k.ms / k.n)} = ${fmtMs(k.ms)}` : "–";
    };
    return [label, cell(mw), cell(mi)];
  });
  kindRows.push(["whole sweep", fmtMs(mw?.ms), fmtMs(mi?.ms)]);

  const label = `one sweep, ${sizes.rescueLeases.toLocaleString("en")} leases (${sizes.rescueDead} dead), ${jobs} jobs`;
  const summary: SummaryLine[] = [
    {
      measure: `Rescue: ${label}, ${LABELS.without}`,
      result:
        (dead.without === sizes.rescueDead
          ? `median ${fmtMs(sw.median)}, p99 ${fmtMs(sw.p99)} (sweep() alone; n=${sw.n})`
          : `≈ ${fmtMs(extrapolated)}, extrapolated from ${dead.without} dead leases: median ${fmtMs(sw.median)}, p99 ${fmtMs(sw.p99)} (sweep() alone; n=${sw.n})`) +
        `; ${fmtMs(pdw)} per dead lease; a sweep that finds no stale lease: ${fmtMs(idleMs.without)}`,
      target: "none set",
      verdict: "—",
    },
    {
      measure: `Rescue: ${label}, ${LABELS.with}`,
      result:
        `median ${fmtMs(si.median)}, p99 ${fmtMs(si.p99)} (sweep() alone; n=${si.n}); \`jobguard rescue\` end to end median ` +
        `${fmtMs(sc.median)}, p99 ${fmtMs(sc.p99)} (n=${sc.n}); ${fmtMs(pdi)} per dead lease; no stale lease: ${fmtMs(idleMs.with)}`,
      target: "none set",
      verdict: "—",
    },
  ];
  const scans = (t: Timed | undefined) =>
    t ? (t.byKind.get("rescue")?.ms ?? 0) + (t.byKind.get("left")?.ms ?? 0) : NaN;
  const pass = (t: Timed | undefined, v: Variant) => fmtMs(scans(t) / Math.max(1, 2 * dead[v]));
  const statements = (t: Timed | undefined) =>
    t ? [...t.byKind.values()].reduce((n, k) => n + k.n, 0) : NaN;
  notes.push(
    `How a sweep scales: one read to see whether any lease is stale, then one transaction of the same statements ` +
      `however many leases are stale (${statements(mw)} for ${dead.without} dead leases without the index, ` +
      `${statements(mi)} for ${dead.with} with it): the stale leases with their session counts and dead pids (one ` +
      `anti-join of the stale leases' pids with the live leases'), a look in pg_index for the recommended index, one ` +
      `rescue UPDATE for every dead lease's claims (with the index a seek a dead worker's name, without it a join ` +
      `that reads the table once), one "still holding?" read, one DELETE. Each dead lease adds ` +
      `${fmtMs(pdw)} without the recommended index and ${fmtMs(pdi)} with it (the median sweep minus one that finds ` +
      `nothing, over the dead leases). The two lookups of the dead workers' names in the jobs table, the rescue UPDATE ` +
      `and the "still holding?" read, take ${fmtMs(scans(mw))} of the ${fmtMs(mw?.ms)} sweep without the index ` +
      `(${pass(mw, "without")} a lookup per dead lease) and ${fmtMs(scans(mi))} of the ${fmtMs(mi?.ms)} one with it, ` +
      `with ${(liveLocks + sizes.rescueDead * sizes.rescueJobsPerDead).toLocaleString("en")} jobs locked. Their plans ` +
      `(EXPLAIN of the statements the sweep sent) — without the index: UPDATE ${plans.without.rescue}; "still holding?" ` +
      `${plans.without.left}; with it: UPDATE ${plans.with.rescue}; "still holding?" ${plans.with.left}. A sweep that ` +
      `finds no stale lease takes ${fmtMs(idleMs.without)} without and ${fmtMs(idleMs.with)} with the index.`,
  );
  if (extrapolated > heartbeatMs) {
    notes.push(
      `A sweep of ${fmtMs(extrapolated)} (${sizes.rescueDead} dead leases without the index) runs on the lease's ` +
        `connection, whose users queue (Database.use): that jobguard's heartbeats wait behind it (a release at ` +
        `SIGTERM does not: it has a connection of its own), and the sweep lock and the stale leases' rows are held as long.`,
    );
  }
  return {
    summary,
    tables: [
      table(
        ["Indexes", "dead leases", "measured", "min", "median", "p99", "max", "jobs released", "n"],
        rows,
      ),
      table(
        [
          "Statement kind (the median sweep)",
          `${LABELS.without}, ${dead.without} dead`,
          `${LABELS.with}, ${dead.with} dead`,
        ],
        kindRows,
        ["l", "r", "r"],
      ),
    ],
    idleMs,
  };
}
