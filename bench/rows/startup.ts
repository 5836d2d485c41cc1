import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fmtMs, fmtRatio, msBetween, now, quantile, rotate, summarize, which } from "../lib/common.js";
import { start } from "../lib/processes.js";
import { table, type RowResult, type Sizes, type SummaryLine } from "../lib/report.js";
import { supervisors, WRAPPER_ID, type Supervisor } from "../lib/supervisors.js";

const TARGET = 1.5;

/** Row 2: wall time of `X -- true`, every supervisor once per round, the order rotated each round. */
export async function startupRow(sizes: Sizes): Promise<RowResult> {
  const all = supervisors();
  const usable = all.filter((s) => !s.missing);
  const times = new Map<string, number[]>(usable.map((s) => [s.id, []]));

  for (let round = 0; round < sizes.startupWarmup + sizes.startupRounds; round++) {
    for (const sup of rotate(usable, round)) {
      const ms = await runOnce(sup);
      if (round >= sizes.startupWarmup) times.get(sup.id)!.push(ms);
    }
  }

  const base = times.get(WRAPPER_ID);
  const ratio = (id: string) =>
    base
      ? quantile(
          times.get(id)!.map((v, i) => v / base[i]!),
          0.5,
        )
      : NaN;
  const notes: string[] = [];
  const hyper = hyperfine(usable, sizes.hyperfineRuns, notes);

  const rows = all.map((sup) => {
    if (sup.missing) return [sup.label, "skipped", "", "", "", "", sup.missing];
    const s = summarize(times.get(sup.id)!);
    const h = hyper?.get(sup.id);
    return [
      sup.label,
      fmtMs(s.min),
      fmtMs(s.median),
      fmtMs(s.p99),
      fmtRatio(ratio(sup.id)),
      h === undefined ? "–" : fmtMs(h),
      String(s.n),
    ];
  });

  const summary: SummaryLine[] = [];
  const misses: string[] = [];
  const pgTimes = times.get("wrapper+pg");
  const pgShare = pgTimes && base ? quantile(pgTimes, 0.5) - quantile(base, 0.5) : NaN;
  for (const sup of all.filter((s) => s.id.startsWith("jobguard"))) {
    if (sup.missing || !base) {
      summary.push({
        measure: `Start-up, ${sup.label}`,
        result: sup.missing ?? "no baseline",
        target: `≤ ${TARGET}× wrapper`,
        verdict: "skipped",
      });
      continue;
    }
    const r = ratio(sup.id);
    const med = quantile(times.get(sup.id)!, 0.5);
    const baseMed = quantile(base, 0.5);
    summary.push({
      measure: `Start-up \`-- true\`, ${sup.label}`,
      result: `${fmtMs(med)} median = ${fmtRatio(r)} wrapper (${fmtMs(baseMed)})`,
      target: `≤ ${TARGET}× wrapper`,
      verdict: r <= TARGET ? "met" : "missed",
    });
    if (r > TARGET) {
      misses.push(
        `${sup.label} starts in ${fmtMs(med)} against the wrapper's ${fmtMs(baseMed)}: ${fmtRatio(r)} as the median ` +
          `of per-round ratios (the two medians' own ratio is ${fmtRatio(med / baseMed)}), beyond the ${TARGET}× target. ` +
          (sup.id === "jobguard+queue"
            ? `With a queue, jobguard loads the release and rescue code and its PostgreSQL client before it spawns ` +
              `the worker, and connects for its lease heartbeat right after, on the event loop that then sees the ` +
              `worker's exit (the "+ import pg" row shows what node-postgres, the client it replaced, would add: ` +
              `${fmtMs(pgShare)} here). What it would take: a single-file build (BENCHMARKS.md, "A single-file build").`
            : `What it would take: fewer modules and less work before the worker is spawned (every ESM file is ` +
              `resolved, read and compiled on each start; a bundle of the start path into one file, or lazy imports ` +
              `of the shutdown code, would cut that).`),
      );
    }
  }

  return {
    n: 2,
    title: "Start-up wall time",
    summary,
    tables: [
      table(
        [
          "`X -- true`",
          "min",
          "median",
          "p99",
          "median ratio to wrapper",
          "hyperfine mean (sequential)",
          "n",
        ],
        rows,
      ),
    ],
    notes,
    misses,
    method:
      `Wall time from spawn() to the 'exit' event in the bench, for \`X -- true\` with stdio ignored. Every supervisor runs once ` +
      `per round, back to back, the order rotated each round (${sizes.startupWarmup} warm-up rounds discarded, ` +
      `${sizes.startupRounds} measured); the ratio is the median of per-round ratios to the minimal wrapper. ` +
      `The hyperfine column is a cross-check with hyperfine -N (no shell), ${sizes.hyperfineRuns} runs per command, ` +
      `run in blocks rather than interleaved, so it is more exposed to drift.`,
  };
}

async function runOnce(sup: Supervisor): Promise<number> {
  const t0 = now();
  const p = start(sup.argv(["true"]));
  const exit = await p.exit;
  if (exit.code !== 0) throw new Error(`${sup.label} -- true exited ${exit.code ?? exit.signal}`);
  return msBetween(t0, exit.at);
}

/** hyperfine's mean per supervisor in ms, or undefined (with a note) when it is missing or fails. */
function hyperfine(usable: Supervisor[], runs: number, notes: string[]): Map<string, number> | undefined {
  const bin = which("hyperfine");
  if (!bin) {
    notes.push("hyperfine cross-check skipped: hyperfine is not installed (apt-get install hyperfine).");
    return undefined;
  }
  const dir = mkdtempSync(join(tmpdir(), "jobguard-bench-"));
  try {
    const out = join(dir, "hyperfine.json");
    const commands = usable.map((s) => s.argv(["true"]).map(shellQuote).join(" "));
    const r = spawnSync(
      bin,
      [
        "-N",
        "--style",
        "none",
        "--warmup",
        "2",
        "--runs",
        String(Math.max(2, runs)),
        "--export-json",
        out,
        ...commands,
      ],
      { encoding: "utf8", timeout: 300_000 },
    );
    if (r.status !== 0) {
      notes.push(
        `hyperfine cross-check failed: ${(r.stderr || r.error?.message || "").trim().split("\n")[0]}`,
      );
      return undefined;
    }
    const json = JSON.parse(readFileSync(out, "utf8")) as { results: { mean: number }[] };
    return new Map(usable.map((s, i) => [s.id, json.results[i]!.mean * 1000]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`;
}
