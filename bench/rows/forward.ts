import { setTimeout as sleep } from "node:timers/promises";
import { fixture, fmtDelta, fmtMs, now, rotate, summarize } from "../lib/common.js";
import { killHard, signal, start, within, type Started } from "../lib/processes.js";
import { table, type RowResult, type Sizes, type SummaryLine } from "../lib/report.js";
import { supervisors } from "../lib/supervisors.js";

const TARGET_P99_MS = 5;

interface Variant {
  id: string;
  label: string;
  missing?: string;
  relaysUsr1: boolean;
  argv(command: string[]): string[];
}

/** Row 3: a signal sent to the supervisor, until the child's handler runs; the same child signalled directly is the floor. */
export async function forwardRow(sizes: Sizes): Promise<RowResult> {
  const child = [process.execPath, fixture("signal-child")];
  const wanted = new Set(["jobguard", "wrapper", "tini", "dumb-init"]);
  const variants: Variant[] = [
    { id: "direct", label: "no supervisor (floor)", relaysUsr1: true, argv: (cmd) => cmd },
    ...supervisors().filter((s) => wanted.has(s.id)),
  ];
  const usable = variants.filter((v) => !v.missing);
  const usr1 = new Map<string, number[]>();
  const term = new Map<string, number[]>(usable.map((v) => [v.id, []]));

  // SIGUSR1 is relayed every time: one long-lived process per supervisor.
  const usr1Variants = usable.filter((v) => v.relaysUsr1);
  const procs = new Map<string, Started>();
  try {
    for (const v of usr1Variants) {
      const p = start(v.argv(child), { stdout: "pipe", stderr: "pipe" });
      await p.stdout!.wait(/^ready \d+/, 15_000);
      procs.set(v.id, p);
      usr1.set(v.id, []);
    }
    for (let i = 0; i < sizes.usr1Runs; i++) {
      for (const v of rotate(usr1Variants, i)) {
        usr1.get(v.id)!.push(await sendAndWait(procs.get(v.id)!, "SIGUSR1"));
        await sleep(1 + Math.random() * 4);
      }
    }
  } finally {
    for (const p of procs.values()) await killHard(p);
  }

  // SIGTERM is forwarded once: a fresh process for every sample.
  for (let round = 0; round < sizes.termRounds; round++) {
    for (const v of rotate(usable, round)) {
      const p = start(v.argv(child), { stdout: "pipe", stderr: "pipe" });
      try {
        await p.stdout!.wait(/^ready \d+/, 15_000);
        await sleep(10); // let the supervisor finish its own start-up work
        term.get(v.id)!.push(await sendAndWait(p, "SIGTERM"));
        const exit = await within(p.exit, 10_000);
        if (!exit) throw new Error(`${v.label} did not exit after its child handled SIGTERM`);
      } finally {
        await killHard(p);
      }
    }
  }

  const floor = { SIGTERM: term.get("direct"), SIGUSR1: usr1.get("direct") };
  const rows: string[][] = [];
  for (const v of variants) {
    for (const [sig, data] of [
      ["SIGTERM", term],
      ["SIGUSR1", usr1],
    ] as const) {
      if (v.missing) {
        if (sig === "SIGTERM") rows.push([v.label, "", "skipped", "", "", "", "", v.missing]);
        continue;
      }
      const values = data.get(v.id);
      if (!values) {
        rows.push([v.label, sig, "not relayed", "", "", "", "", ""]);
        continue;
      }
      const s = summarize(values);
      const f = floor[sig] ? summarize(floor[sig]) : undefined;
      const added =
        v.id === "direct" || !f ? "" : `${fmtDelta(s.median - f.median)} / ${fmtDelta(s.p99 - f.p99)}`;
      rows.push([
        v.label,
        sig,
        fmtMs(s.min),
        fmtMs(s.median),
        fmtMs(s.p99),
        fmtMs(s.max),
        added,
        String(s.n),
      ]);
    }
  }

  const summary: SummaryLine[] = [];
  const misses: string[] = [];
  for (const [sig, data] of [
    ["SIGTERM", term],
    ["SIGUSR1", usr1],
  ] as const) {
    const values = data.get("jobguard");
    if (!values) {
      summary.push({
        measure: `Forward latency ${sig}`,
        result: "jobguard not built",
        target: `p99 < ${TARGET_P99_MS} ms`,
        verdict: "skipped",
      });
      continue;
    }
    const s = summarize(values);
    const f = floor[sig] && summarize(floor[sig]);
    summary.push({
      measure: `Forward latency ${sig} → child's handler`,
      result: `p99 ${fmtMs(s.p99)}, median ${fmtMs(s.median)} (floor p99 ${fmtMs(f?.p99)}; n=${s.n})`,
      target: `p99 < ${TARGET_P99_MS} ms`,
      verdict: s.p99 < TARGET_P99_MS ? "met" : "missed",
    });
    if (s.p99 >= TARGET_P99_MS) {
      misses.push(
        `${sig} p99 is ${fmtMs(s.p99)}, ${fmtMs(s.p99 - TARGET_P99_MS)} over the target (the floor without jobguard is ` +
          `${fmtMs(f?.p99)}). What it would take: nothing before the process.kill() in jobguard's handler (the log line ` +
          `is written after it); the tail comes from scheduling on a busy machine — rerun on a quieter one before changing code.`,
      );
    }
  }
  return {
    n: 3,
    title: "Forward latency",
    summary,
    tables: [
      table(
        ["Signal sent to", "Signal", "min", "median", "p99", "max", "added to floor (median / p99)", "n"],
        rows,
      ),
    ],
    notes: [],
    misses,
    method:
      `The child is a small Node script (bench/fixtures/signal-child.ts) that writes process.hrtime.bigint() from its ` +
      `SIGTERM/SIGUSR1 handler; the bench reads the same clock (CLOCK_MONOTONIC, shared by all processes) just before ` +
      `process.kill(), so latency = handler time − send time, with no pipe or event-loop delay of the bench in it. ` +
      `SIGUSR1: one long-lived process per supervisor, ${sizes.usr1Runs} signals each, supervisors alternating, 1–5 ms apart. ` +
      `SIGTERM (forwarded once per run): a fresh supervisor and child for each of ${sizes.termRounds} rounds, supervisors ` +
      `alternating in rotated order, signalled 10 ms after the child said it was ready. "No supervisor" signals the child ` +
      `directly: the floor. The minimal wrapper forwards only SIGTERM.`,
  };
}

async function sendAndWait(p: Started, sig: "SIGTERM" | "SIGUSR1"): Promise<number> {
  const from = p.stdout!.all.length;
  const t0 = now();
  if (!signal(p.pid, sig)) throw new Error(`cannot signal ${p.pid}`);
  const line = await p.stdout!.wait(new RegExp(`^${sig} \\d+$`), 10_000, from);
  if (!line) throw new Error(`the child never handled ${sig}; stderr:\n${p.stderr?.text() ?? ""}`);
  return Number(BigInt(line.text.split(" ")[1]!) - t0) / 1e6;
}
