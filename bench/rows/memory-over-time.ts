import { setTimeout as sleep } from "node:timers/promises";
import { connect } from "../../src/db/connect.js";
import { delayedJobsTableSql } from "../../tools/delayed-jobs-table.js";
import { JOBGUARD } from "../../tools/repo.js";
import { fixture, fmt, fmtRatio, quantile } from "../lib/common.js";
import { onBenchDatabase } from "../lib/db.js";
import { killHard, smapsRollup, start, type Started } from "../lib/processes.js";
import { table, type RowResult, type Sizes, type SummaryLine } from "../lib/report.js";
import { disableTls, enableTls, usesTls } from "../lib/tls.js";
import { baselineBuild } from "../lib/supervisors.js";

const TITLE = "Memory over time";
const TARGET = 1.3;

/**
 * A worker that starts and ends children all the while: two short `sleep`s
 * every 50 ms, so that jobguard's record of the tree sees thousands of pids.
 */
const WORKER = ["sh", "-c", "while :; do sleep 0.05 & sleep 0.02 & wait; done"];

/** One process watched over the run. */
interface Watched {
  id: string;
  label: string;
  /** The lease table of its own, whose writes count its heartbeats. */
  leaseTable?: string;
  argv(url: string, sizes: Sizes): string[];
}

/**
 * jobguard at the accelerated heartbeat (`fast`), or at the defaults beside it: the accelerated run
 * shows what thousands of heartbeats leave behind; the default one, what a dyno holds at the rate
 * it allocates at, where V8 has the time between heartbeats to collect.
 */
const jobguard = (
  connection: "keep" | "per-heartbeat",
  fast: boolean,
  build: { cli: string; label: string } = { cli: JOBGUARD, label: "" },
): Watched => {
  const at = build.label ? "_baseline" : "";
  const leaseTable = `bench_leases_${connection.replace("-", "_")}${fast ? "" : "_default"}${at}`;
  return {
    // A baseline's id does not start with "jobguard": it is measured, not judged.
    id: `${build.label ? "baseline" : "jobguard"}-${connection}${fast ? "" : "-default"}`,
    label: `jobguard${build.label ? ` at ${build.label}` : ""}, queue configured, lease connection \`${connection}\`${fast ? "" : ", default heartbeat (10 s)"}`,
    leaseTable,
    argv: (url, sizes) => [
      process.execPath,
      build.cli,
      "--queue",
      "delayed_job",
      "--database-url",
      url,
      "--connection",
      connection,
      "--lease-table",
      leaseTable,
      // A grace and a stale-after the lease contract allows at the fast heartbeat (stale-after at least
      // grace + 2 heartbeats + 3 s), with room: the fence then waits 17 s and a heartbeat 5 s, so that a
      // busy machine's slow answers do not stop the worker. Sweeps come every stale-after/4.
      ...(fast
        ? [
            "--heartbeat",
            String(sizes.memoryHeartbeatSec),
            "--stale-after",
            "20",
            "--grace",
            "2",
            "--deadline",
            "1",
          ]
        : []),
      "--log-level",
      "debug",
      "--",
      ...WORKER,
    ],
  };
};

const WATCHED: Watched[] = [
  {
    id: "wrapper",
    label: "minimal Node wrapper",
    argv: () => [process.execPath, fixture("minimal-wrapper"), "--", ...WORKER],
  },
  jobguard("keep", true),
  jobguard("per-heartbeat", true),
  jobguard("keep", false),
  jobguard("per-heartbeat", false),
  ...baselineWatched(),
];

/** The baseline build (BENCH_BASELINE) at the accelerated heartbeat, both connection modes. */
function baselineWatched(): Watched[] {
  const baseline = baselineBuild();
  return baseline ? [jobguard("keep", true, baseline), jobguard("per-heartbeat", true, baseline)] : [];
}

interface Sample {
  atSec: number;
  rssMb: number;
  pssMb: number;
}

/** Row 8: RSS and PSS of jobguard with a queue over thousands of heartbeats and sweeps, beside the minimal wrapper. */
export async function memoryOverTimeRow(sizes: Sizes): Promise<RowResult> {
  const beats = Math.round(sizes.memoryRunSec / sizes.memoryHeartbeatSec);
  const method =
    `A database of its own on the bench's PostgreSQL (as row 5) with delayed_job's table, empty, and TLS switched ` +
    `on as in row 7 (but in a smoke run). Five processes run ` +
    `side by side for ${sizes.memoryRunSec} s, each around the same worker, a shell that starts two short \`sleep\`s ` +
    `every 50 ms and waits for them (so the tree changes all the while): the minimal Node wrapper, and jobguard ` +
    `with \`--queue delayed_job\` and a heartbeat of ${sizes.memoryHeartbeatSec} s (the default is 10 s: ${beats.toLocaleString("en")} ` +
    `heartbeats are ${fmt((beats * 10) / 3600, 1)} hours of a dyno's), stale-after 20 s and a grace of 2 s (a sweep every 5 s: stale-after/4, which the lease contract keeps above 0.8 s), once with ` +
    `the lease connection kept and once opened per heartbeat, each with a lease table of its own; and the same two ` +
    `at jobguard's defaults (heartbeat 10 s, grace 30 s, stale-after 60 s, a sweep every 15 s), to show what a dyno ` +
    `holds at the rate it allocates at: at 0.1 s jobguard is never idle, and V8 collects old objects (a connection's ` +
    `TLS memory among them) only when its heap fills. Every ` +
    `${sizes.memorySampleSec} s the bench reads Rss and Pss of each supervisor process alone (not the worker) from ` +
    `/proc/PID/smaps_rollup. Steady state: the median of the samples of the last quarter of the run; the ratio is the ` +
    `median of the per-sample ratios to the wrapper over that quarter. Heartbeats are the writes to each lease table ` +
    `(pg_stat_user_tables, read after the run), sweeps the \`swept\` lines jobguard logs at debug level. PSS shares the ` +
    `node binary's pages among the five and the bench: compare it within the run.`;
  return onBenchDatabase({ n: 8, title: TITLE, method }, sizes.smoke, async ({ url, source }) => {
    const client = await connect(url, process.env, { application_name: "jobguard-bench" });
    const notes = [`Database: ${source}.`];
    // As row 7: not in a smoke run, which shares the test suite's server.
    const tls = sizes.smoke
      ? false
      : await enableTls(client).catch(
          (error: Error) => (notes.push(`TLS not switched on (${error.message}).`), false),
        );
    try {
      notes.push(`jobguard's connections ${(await usesTls(url)) ? "used TLS" : "were plain"} (pg_stat_ssl).`);
      for (const ddl of delayedJobsTableSql()) await client.query(ddl);
      const running = new Map<string, Started>();
      const samples = new Map<string, Sample[]>(WATCHED.map((w) => [w.id, []]));
      try {
        for (const w of WATCHED) running.set(w.id, start(w.argv(url, sizes), { stderr: "pipe" }));
        const t0 = Date.now();
        for (let at = sizes.memorySampleSec; at <= sizes.memoryRunSec; at += sizes.memorySampleSec) {
          await sleep(Math.max(0, t0 + at * 1000 - Date.now()));
          for (const w of WATCHED) {
            const p = running.get(w.id)!;
            const m = smapsRollup(p.pid);
            if (!m || Number.isNaN(m.rssKb))
              throw new Error(`${w.label} ended early:\n${p.stderr?.text().slice(-2000) ?? ""}`);
            samples.get(w.id)!.push({ atSec: at, rssMb: m.rssKb / 1024, pssMb: m.pssKb / 1024 });
          }
        }
      } finally {
        await Promise.all([...running.values()].map((p) => killHard(p)));
      }
      const counts = new Map<string, { heartbeats: number; sweeps: number; failures: number }>();
      for (const w of WATCHED.filter((w) => w.leaseTable)) {
        const lines = running.get(w.id)!.stderr!.all.map((l) => l.text);
        counts.set(w.id, {
          heartbeats: await writesTo(client, w.leaseTable!),
          sweeps: lines.filter((l) => /event=swept/.test(l)).length,
          failures: lines.filter((l) => /event=(heartbeat_failed|sweep_failed|lease_lost)/.test(l)).length,
        });
      }
      return report(sizes, samples, counts, notes, method);
    } finally {
      if (tls) await disableTls(client).catch(() => {});
      await client.end().catch(() => {});
    }
  });
}

/** Rows written to a lease table: its heartbeats (one UPDATE each) and the first INSERT. */
async function writesTo(client: Awaited<ReturnType<typeof connect>>, table: string): Promise<number> {
  // Backends report their counts within a second, and at exit: wait for the last ones.
  await sleep(1500);
  const r = await client.query<{ n: string }>(
    `SELECT coalesce(sum(n_tup_upd + n_tup_ins), 0) AS n FROM pg_stat_user_tables WHERE relname = $1`,
    [table],
  );
  return Number(r.rows[0]!.n);
}

function report(
  sizes: Sizes,
  samples: Map<string, Sample[]>,
  counts: Map<string, { heartbeats: number; sweeps: number; failures: number }>,
  notes: string[],
  method: string,
): RowResult {
  const base = samples.get("wrapper")!;
  const lastQuarter = (s: Sample[]) => s.filter((x) => x.atSec >= sizes.memoryRunSec * 0.75);
  const steady = (s: Sample[], key: "rssMb" | "pssMb") =>
    quantile(
      lastQuarter(s).map((x) => x[key]),
      0.5,
    );
  const ratio = (s: Sample[], key: "rssMb" | "pssMb") =>
    quantile(
      lastQuarter(s).map((x) => x[key] / base.find((b) => b.atSec === x.atSec)![key]),
      0.5,
    );

  const summary: SummaryLine[] = [];
  const misses: string[] = [];
  for (const w of WATCHED.filter((w) => w.leaseTable)) {
    const s = samples.get(w.id)!;
    const c = counts.get(w.id)!;
    const [rss, pss] = [ratio(s, "rssMb"), ratio(s, "pssMb")];
    if (!w.id.startsWith("jobguard")) {
      notes.push(
        `Beside them, ${w.label}: after ${c.heartbeats.toLocaleString("en")} heartbeats and ${c.sweeps} sweeps, steady ` +
          `RSS / PSS ${fmt(steady(s, "rssMb"))} / ${fmt(steady(s, "pssMb"))} MiB = ${fmtRatio(rss)} / ${fmtRatio(pss)} wrapper.`,
      );
      continue;
    }
    const met = rss <= TARGET && pss <= TARGET;
    summary.push({
      measure: `Memory after ${c.heartbeats.toLocaleString("en")} heartbeats and ${c.sweeps} sweeps, ${w.label} (steady RSS / PSS)`,
      result:
        `${fmt(steady(s, "rssMb"))} / ${fmt(steady(s, "pssMb"))} MiB = ${fmtRatio(rss)} / ${fmtRatio(pss)} wrapper ` +
        `(${fmt(steady(base, "rssMb"))} / ${fmt(steady(base, "pssMb"))} MiB); peak RSS ${fmt(Math.max(...s.map((x) => x.rssMb)))} MiB`,
      target: `≤ ${TARGET}× wrapper`,
      verdict: met ? "met" : "missed",
    });
    if (!met)
      misses.push(
        `${w.label}: steady RSS ${fmtRatio(rss)} and PSS ${fmtRatio(pss)} of the wrapper, beyond ${TARGET}×. ` +
          `BENCHMARKS.md ("Where the memory goes") says what each setting and fix bought, and what is left.`,
      );
    if (c.failures) notes.push(`${w.label} logged ${c.failures} failed heartbeat(s) or sweep(s).`);
  }
  // The table shows about a dozen instants of the run.
  const every = Math.max(1, Math.round(base.length / 12));
  const rows = base
    .map((b, i) => ({ b, i }))
    .filter(({ i }) => i % every === 0 || i === base.length - 1)
    .map(({ b, i }) => [
      `${b.atSec} s`,
      ...WATCHED.flatMap((w) => {
        const x = samples.get(w.id)![i]!;
        return [fmt(x.rssMb), fmt(x.pssMb)];
      }),
    ]);
  return {
    n: 8,
    title: TITLE,
    summary,
    tables: [table(["Time", ...WATCHED.flatMap((w) => [`${w.label}: RSS (MiB)`, "PSS"])], rows)],
    notes,
    misses,
    method,
  };
}
