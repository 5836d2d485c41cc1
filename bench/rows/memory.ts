import { setTimeout as sleep } from "node:timers/promises";
import { descendantsOf } from "../../tools/processes.js";
import { fmt, fmtRatio, quantile, rotate, summarize } from "../lib/common.js";
import { comm, killHard, poll, smapsRollup, start } from "../lib/processes.js";
import { table, type RowResult, type Sizes, type SummaryLine } from "../lib/report.js";
import { supervisors, WRAPPER_ID, type Supervisor } from "../lib/supervisors.js";

const TARGET = 1.25;

/** Row 1: idle RSS and PSS of each supervisor running `sleep`, in rotating rounds. */
export async function memoryRow(sizes: Sizes): Promise<RowResult> {
  const all = supervisors();
  const usable = all.filter((s) => !s.missing);
  const talked = new Set<string>(); // what jobguard said about the database before any SIGTERM
  const samples = new Map<string, { rss: number[]; pss: number[]; uss: number[] }>(
    usable.map((s) => [s.id, { rss: [], pss: [], uss: [] }]),
  );

  for (let round = 0; round < sizes.memoryRounds; round++) {
    for (const sup of rotate(usable, round)) {
      const m = await measureOnce(sup, sizes.memorySettleMs, talked);
      samples.get(sup.id)!.rss.push(m.rssKb / 1024);
      samples.get(sup.id)!.pss.push(m.pssKb / 1024);
      samples.get(sup.id)!.uss.push(m.ussKb / 1024);
    }
  }

  // Ratios are taken round by round (each round ran every supervisor back to back),
  // then summarized, so that drift in the machine's load cancels out.
  const base = samples.get(WRAPPER_ID);
  const ratio = (id: string, key: "rss" | "pss" | "uss") =>
    base
      ? quantile(
          samples.get(id)![key].map((v, i) => v / base[key][i]!),
          0.5,
        )
      : NaN;

  const rows = all.map((sup) => {
    if (sup.missing) return [sup.label, "skipped", "", "", "", "", "", "", "", sup.missing];
    const s = samples.get(sup.id)!;
    const rss = summarize(s.rss);
    const pss = summarize(s.pss);
    const uss = summarize(s.uss);
    return [
      sup.label,
      fmt(rss.median),
      fmt(rss.max),
      fmt(pss.median),
      fmt(pss.max),
      fmt(uss.median),
      fmtRatio(ratio(sup.id, "rss")),
      fmtRatio(ratio(sup.id, "pss")),
      fmtRatio(ratio(sup.id, "uss")),
      String(rss.n),
    ];
  });

  const summary: SummaryLine[] = [];
  const misses: string[] = [];
  const notes: string[] = [];
  for (const sup of all.filter((s) => s.id.startsWith("jobguard"))) {
    if (sup.missing || !base) {
      summary.push({
        measure: `Idle memory, ${sup.label}`,
        result: sup.missing ?? "no baseline",
        target: `≤ ${TARGET}× wrapper`,
        verdict: "skipped",
      });
      continue;
    }
    const rssRatio = ratio(sup.id, "rss");
    const pssRatio = ratio(sup.id, "pss");
    const rssMb = quantile(samples.get(sup.id)!.rss, 0.5);
    const pssMb = quantile(samples.get(sup.id)!.pss, 0.5);
    const met = rssRatio <= TARGET && pssRatio <= TARGET;
    summary.push({
      measure: `Idle memory, ${sup.label} (RSS / PSS)`,
      result: `${fmt(rssMb)} / ${fmt(pssMb)} MiB = ${fmtRatio(rssRatio)} / ${fmtRatio(pssRatio)} wrapper`,
      target: `≤ ${TARGET}× wrapper`,
      verdict: met ? "met" : "missed",
    });
    if (!met) {
      const baseRss = quantile(base.rss, 0.5);
      const basePss = quantile(base.pss, 0.5);
      const why =
        sup.id === "jobguard+queue" && talked.size > 0
          ? `With a queue, jobguard loads its own PostgreSQL client, node:tls and node:crypto and tries to reach the ` +
            `database before any SIGTERM (it logged \`${[...talked][0]}\`), for the rescue's lease heartbeat; ` +
            `"+ import pg" shows what node-postgres, the client it replaced, costs alone. What it would take: ` +
            `TLS and crypto loaded only when the server accepts TLS or asks for SCRAM, or a separate target for ` +
            `the queue-configured case.`
          : `What it would take: load less JavaScript before the first SIGTERM (the "+ import" rows show what a module ` +
            `graph costs) — import the kill and release code only when a shutdown starts — and scan /proc less at start.`;
      misses.push(
        `${sup.label}: RSS ${fmtRatio(rssRatio)} and PSS ${fmtRatio(pssRatio)} of the minimal wrapper; the target allows ` +
          `${fmt(baseRss * TARGET)} MiB RSS / ${fmt(basePss * TARGET)} MiB PSS, so it is ` +
          `${fmt(Math.max(0, rssMb - baseRss * TARGET))} MiB RSS / ${fmt(Math.max(0, pssMb - basePss * TARGET))} MiB PSS over. ${why}`,
      );
    }
  }
  const q = samples.get("jobguard+queue");
  const plain = samples.get("jobguard");
  const pg = samples.get("wrapper+pg");
  if (q && plain) {
    const extra = quantile(q.rss, 0.5) - quantile(plain.rss, 0.5);
    const pgCost = pg && base ? quantile(pg.rss, 0.5) - quantile(base.rss, 0.5) : NaN;
    notes.push(
      `Configuring a queue adds ${fmt(extra)} MiB RSS (median) before any SIGTERM` +
        (Number.isNaN(pgCost)
          ? "."
          : `; importing node-postgres (pg), which jobguard no longer uses, adds ${fmt(pgCost)} MiB to the minimal wrapper.`) +
        (talked.size > 0
          ? ` Before any SIGTERM, jobguard with a queue tried to reach the (unreachable) database: \`${[...talked][0]}\`.`
          : " jobguard with a queue did not try to reach the database before the SIGTERM."),
    );
  }
  return {
    n: 1,
    title: "Idle memory",
    summary,
    tables: [
      table(
        [
          "Supervisor running `sleep`",
          "RSS median (MiB)",
          "RSS max",
          "PSS median (MiB)",
          "PSS max",
          "USS median (MiB)",
          "RSS × wrapper",
          "PSS × wrapper",
          "USS × wrapper",
          "n",
        ],
        rows,
      ),
    ],
    notes,
    misses,
    method:
      `Each supervisor starts \`sleep 100000\`; once the \`sleep\` process exists the bench waits ${sizes.memorySettleMs} ms ` +
      `for start-up to settle, then reads Rss and Pss of the supervisor process alone from /proc/PID/smaps_rollup, and kills it. ` +
      `Supervisors run one at a time in ${sizes.memoryRounds} rounds, the order rotated each round; the ratio is the median of ` +
      `the per-round ratios to the minimal wrapper. "jobguard, queue configured" gets \`--queue delayed_job --database-url\` ` +
      `(the same settings as JOBGUARD_QUEUE and DATABASE_URL) with an unreachable database, so that no open connection ` +
      `is counted; whatever jobguard said about the database before the measurement is quoted below the table. ` +
      `PSS divides shared pages by the number of processes mapping them, so Node supervisors share the node binary with the ` +
      `bench itself and with any other Node process on the machine: compare PSS only between the Node rows of one run. ` +
      `USS (Private_Clean + Private_Dirty) counts only the pages no other process maps: what one more supervisor costs.`,
  };
}

async function measureOnce(
  sup: Supervisor,
  settleMs: number,
  talked: Set<string>,
): Promise<{ rssKb: number; pssKb: number; ussKb: number }> {
  const p = start(sup.argv(["sleep", "100000"]), { stderr: "pipe" });
  try {
    await poll(
      () => descendantsOf(p.pid).some((pid) => comm(pid) === "sleep"),
      15_000,
      `${sup.label} to start sleep`,
    );
    await sleep(settleMs);
    const m = smapsRollup(p.pid);
    if (!m || Number.isNaN(m.rssKb))
      throw new Error(`cannot read /proc/${p.pid}/smaps_rollup of ${sup.label}`);
    for (const line of p.stderr!.all) {
      if (/^jobguard /.test(line.text) && /connect|heartbeat|sweep|database|ECONN/i.test(line.text))
        talked.add(line.text.slice(0, 160));
    }
    return m;
  } finally {
    await killHard(p);
  }
}
