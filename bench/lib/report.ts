/** How a measured number compares with its target. */
export type Verdict = "met" | "missed" | "skipped" | "not measured" | "—";

/** One line of the summary table. */
export interface SummaryLine {
  measure: string;
  result: string;
  target: string;
  verdict: Verdict;
}

/** What one benchmark row produced. */
export interface RowResult {
  n: number;
  title: string;
  summary: SummaryLine[];
  /** Markdown blocks (tables) with the details. */
  tables: string[];
  /** Skip reasons and remarks, printed under the row. */
  notes: string[];
  /** For each missed target: by how much, and what it would take. */
  misses: string[];
  /** How the numbers were measured. */
  method: string;
  /** Set when the row itself failed (a bench bug or a broken environment). */
  error?: string;
  seconds?: number;
}

/** Sizes of a run: the full run for humans, or the smoke run for CI. */
export interface Sizes {
  smoke: boolean;
  memoryRounds: number;
  memorySettleMs: number;
  startupWarmup: number;
  startupRounds: number;
  hyperfineRuns: number;
  usr1Runs: number;
  termRounds: number;
  deadlineRuns: number;
  deadlineSec: number;
  treeSize: number;
  releaseRows: number;
  releaseRuns: number;
  releaseDeadlineSec: number;
  /** Row 6 (a): leases in the table, of which dead; jobs each dead lease holds; runs per set-up. */
  rescueLeases: number;
  rescueDead: number;
  rescueJobsPerDead: number;
  /** Timed sweeps (sweep() called directly) and `jobguard rescue` runs with the recommended index. */
  rescueRuns: number;
  rescueCliRuns: number;
  /** Sweeps with delayed_job's own index only, and their dead leases: each dead lease costs two reads of the whole table. */
  rescueNoIndexRuns: number;
  rescueNoIndexDead: number;
  /** Sweeps that find no stale lease (what every jobguard does every stale-after/4). */
  rescueIdleRuns: number;
  rescueStaleAfterSec: number;
  /** Row 6 (b): simulated dynos, their heartbeat interval, and the length of the idle and the loaded window. */
  heartbeatDynos: number;
  heartbeatSec: number;
  heartbeatWindowSec: number;
  /** Row 8: how long the run lasts, jobguard's heartbeat in it, and how often memory is sampled. */
  memoryRunSec: number;
  memoryHeartbeatSec: number;
  memorySampleSec: number;
}

export const FULL: Sizes = {
  smoke: false,
  memoryRounds: 10,
  memorySettleMs: 1000,
  startupWarmup: 3,
  startupRounds: 60,
  hyperfineRuns: 30,
  usr1Runs: 300,
  termRounds: 200,
  deadlineRuns: 100,
  deadlineSec: 0.5,
  treeSize: 50,
  releaseRows: 1_000_000,
  releaseRuns: 25,
  releaseDeadlineSec: 0.5,
  rescueLeases: 1000,
  rescueDead: 100,
  rescueJobsPerDead: 2,
  rescueRuns: 5,
  rescueCliRuns: 3,
  rescueNoIndexRuns: 3,
  rescueNoIndexDead: 100,
  rescueIdleRuns: 5,
  rescueStaleAfterSec: 60,
  heartbeatDynos: 1000,
  heartbeatSec: 10,
  heartbeatWindowSec: 30,
  memoryRunSec: 240,
  memoryHeartbeatSec: 0.1,
  memorySampleSec: 5,
};

export const SMOKE: Sizes = {
  smoke: true,
  memoryRounds: 1,
  memorySettleMs: 100,
  startupWarmup: 0,
  startupRounds: 2,
  hyperfineRuns: 2,
  usr1Runs: 5,
  termRounds: 2,
  deadlineRuns: 2,
  deadlineSec: 0.3,
  treeSize: 50,
  releaseRows: 2_000,
  releaseRuns: 2,
  releaseDeadlineSec: 0.3,
  rescueLeases: 20,
  rescueDead: 5,
  rescueJobsPerDead: 2,
  rescueRuns: 2,
  rescueCliRuns: 1,
  rescueNoIndexRuns: 1,
  rescueNoIndexDead: 5,
  rescueIdleRuns: 1,
  rescueStaleAfterSec: 2,
  heartbeatDynos: 3,
  heartbeatSec: 0.5,
  heartbeatWindowSec: 1.5,
  memoryRunSec: 4,
  memoryHeartbeatSec: 0.2,
  memorySampleSec: 1,
};

/** A Markdown table; cells are escaped for pipes. */
export function table(headers: string[], rows: string[][], align: ("l" | "r")[] = []): string {
  const esc = (cell: string) => cell.replaceAll("|", "\\|").replaceAll("\n", " ");
  const rule = headers.map((_, i) => ((align[i] ?? (i === 0 ? "l" : "r")) === "r" ? "---:" : "---"));
  return [headers, rule, ...rows].map((cells) => `| ${cells.map(esc).join(" | ")} |`).join("\n");
}

/** A row that could not run at all, with the reason. */
export function skippedRow(n: number, title: string, reason: string, method = ""): RowResult {
  return {
    n,
    title,
    summary: [{ measure: title, result: reason, target: "", verdict: "skipped" }],
    tables: [],
    notes: [`Skipped: ${reason}`],
    misses: [],
    method,
  };
}

/** The summary table over all rows. */
export function summaryTable(rows: RowResult[]): string {
  const lines: string[][] = [];
  for (const row of rows) {
    for (const s of row.summary) lines.push([String(row.n), s.measure, s.result, s.target, s.verdict]);
    if (row.error) lines.push([String(row.n), row.title, `error: ${row.error.split("\n")[0]}`, "", "—"]);
  }
  return table(["#", "Measure", "Result", "Target", "Verdict"], lines, ["r", "l", "l", "l", "l"]);
}

/** The details of one row: its tables, notes and misses. */
export function rowSection(row: RowResult): string {
  const parts = [`### ${row.n}. ${row.title}`];
  if (row.tables.length) parts.push(...row.tables);
  if (row.error) parts.push(`**Error:** \`${row.error.split("\n")[0]}\``);
  for (const note of row.notes) parts.push(`- ${note}`);
  for (const miss of row.misses) parts.push(`- **Target missed:** ${miss}`);
  if (row.seconds !== undefined) parts.push(`_(row took ${row.seconds.toFixed(0)} s)_`);
  return parts.join("\n\n");
}
