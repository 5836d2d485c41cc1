import { spawnSync } from "node:child_process";
import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import type { Client } from "../../src/postgres/client.js";
import { JOBGUARD } from "../../tools/repo.js";
import { cleanEnv, field, fmtMs, msBetween, now, summarize } from "../lib/common.js";
import {
  fillJobs,
  jobsTableFacts,
  onBenchDatabase,
  RECOMMENDED_INDEX,
  RECOMMENDED_INDEX_NAME,
  type BenchDatabase,
} from "../lib/db.js";
import { killHard, signal, start, within } from "../lib/processes.js";
import { table, type RowResult, type Sizes, type SummaryLine } from "../lib/report.js";

const TARGETS = { without: 1000, with: 20 } as const;
const TARGET_LABELS = { without: "p99 < 1 s", with: "p99 < 20 ms" } as const;
type Variant = keyof typeof TARGETS;
const LABELS: Record<Variant, string> = {
  without: "delayed_job's own index only",
  with: `+ ${RECOMMENDED_INDEX_NAME} (recommended)`,
};

interface Sample {
  /** From the deadline (SIGTERM + configured deadline) to the locks_released line reaching the bench. */
  total: number;
  /** From the deadline to the tree_gone line reaching the bench. */
  gone: number;
  /** jobguard's own ms= on that line. */
  own: number;
  jobs: number;
}

const TITLE = "Release latency";

/** Row 5: from the deadline to `locks_released`, on a delayed_jobs table of realistic size, without and with the index. */
export async function releaseRow(sizes: Sizes): Promise<RowResult> {
  const method =
    `A database of its own on the bench's PostgreSQL (BENCH_DATABASE_URL, else TEST_DATABASE_URL, else an embedded ` +
    `server) gets delayed_job's table as its migration creates it (the only index: delayed_jobs_priority on ` +
    `(priority, run_at)) and ${sizes.releaseRows.toLocaleString("en")} ActiveJob jobs with 1–2 KB YAML handlers; every ` +
    `100th is locked by one of 20 workers on other hosts. Each run starts ` +
    `\`jobguard --deadline ${sizes.releaseDeadlineSec} --queue delayed_job\` around a shell that ignores SIGTERM, locks ` +
    `one more job as that worker (\`locked_by = 'host:<hostname> pid:<pid>'\`), waits 300 ms for jobguard's start-up database work (lease, first sweep), sends SIGTERM, and measures from the ` +
    `deadline (send time + configured deadline) to the \`locks_released\` line reaching the bench; jobguard's own ms= ` +
    `(release only) is shown beside it. Each run checks that the job was released; the other workers' locks are ` +
    `counted at the end. The two index set-ups alternate run by run (the index is created or dropped between runs), ` +
    `after one discarded warm-up run each. The database is dropped at the end.`;
  return onBenchDatabase({ n: 5, title: TITLE, method }, sizes.smoke, (db) => measure(db, sizes, method));
}

async function measure({ url, source }: BenchDatabase, sizes: Sizes, method: string): Promise<RowResult> {
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    const setupStart = Date.now();
    await fillJobs(client, sizes.releaseRows);
    await client.query("VACUUM ANALYZE delayed_jobs");
    const setupSec = (Date.now() - setupStart) / 1000;
    const size = await jobsTableFacts(client);
    const otherLocks = size.locked;

    const notes: string[] = [
      `Database: ${source}; table ${size.size}, ${otherLocks} jobs locked by other workers; set up in ${setupSec.toFixed(0)} s.`,
    ];
    const setIndex = async (v: Variant) =>
      client.query(
        v === "with"
          ? RECOMMENDED_INDEX.replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS")
          : `DROP INDEX IF EXISTS ${RECOMMENDED_INDEX_NAME}`,
      );

    await setIndex("without");
    notes.push(`\`jobguard check\` without the recommended index: ${check(url)}`);
    await setIndex("with");
    notes.push(`\`jobguard check\` with it: ${check(url)}`);

    const samples: Record<Variant, Sample[]> = { without: [], with: [] };
    let failure: string | undefined;
    let notReleased = 0;
    let jobId = 50;
    const total = 1 + sizes.releaseRuns; // the first round is a warm-up
    outer: for (let round = 0; round < total; round++) {
      const order: Variant[] = round % 2 === 0 ? ["without", "with"] : ["with", "without"];
      for (const v of order) {
        await setIndex(v);
        jobId = jobId + 100 > sizes.releaseRows ? 50 : jobId + 100; // never one of the rows other workers hold
        const r = await runOnce(url, client, jobId, sizes.releaseDeadlineSec);
        if ("failure" in r) {
          failure = r.failure;
          break outer;
        }
        if (!r.released) notReleased++;
        if (round > 0) samples[v].push(r.sample);
      }
    }
    const stillLocked = Number(
      (
        await client.query<{ n: string }>(
          "SELECT count(*) AS n FROM delayed_jobs WHERE locked_by IS NOT NULL",
        )
      ).rows[0]!.n,
    );
    await client.end().catch(() => {});

    if (failure) {
      return {
        n: 5,
        title: TITLE,
        summary: (["without", "with"] as const).map((v) => ({
          measure: `Release latency, ${LABELS[v]}`,
          result: "no locks_released line",
          target: TARGET_LABELS[v],
          verdict: "skipped" as const,
        })),
        tables: [],
        notes: [...notes, `Not measured: ${failure}`],
        misses: [],
        method,
      };
    }

    if (notReleased > 0) notes.push(`**${notReleased} run(s) left the killed worker's job locked.**`);
    notes.push(
      stillLocked === otherLocks
        ? `The ${otherLocks} locks of other workers were all still in place at the end.`
        : `**Other workers' locks: ${otherLocks} before, ${stillLocked} after — jobguard released locks that were not its worker's.**`,
    );
    const summary: SummaryLine[] = [];
    const misses: string[] = [];
    const rows: string[][] = [];
    for (const v of ["without", "with"] as const) {
      const t = summarize(samples[v].map((s) => s.total));
      const own = summarize(samples[v].map((s) => s.own));
      const gone = summarize(samples[v].map((s) => s.gone));
      const jobs = [...new Set(samples[v].map((s) => s.jobs))].join(", ");
      rows.push([
        LABELS[v],
        fmtMs(t.min),
        fmtMs(t.median),
        fmtMs(t.p99),
        fmtMs(t.max),
        `${fmtMs(gone.median)} / ${fmtMs(gone.p99)}`,
        `${own.median} / ${own.p99} ms`,
        jobs,
        String(t.n),
      ]);
      const met = t.p99 < TARGETS[v];
      summary.push({
        measure: `Release latency, ${sizes.releaseRows.toLocaleString("en")} jobs, ${LABELS[v]}`,
        result: `p99 ${fmtMs(t.p99)}, median ${fmtMs(t.median)} (until tree_gone: median ${fmtMs(gone.median)}; jobguard's ms=: median ${own.median} ms; n=${t.n})`,
        target: TARGET_LABELS[v],
        verdict: met ? "met" : "missed",
      });
      if (!met) {
        misses.push(
          v === "without"
            ? `without the recommended index the release takes ${fmtMs(t.p99)} at p99, ${fmtMs(t.p99 - TARGETS[v])} over; ` +
                `jobguard's own share (ms=) is ${own.p99} ms at p99: a sequential scan of the whole table. What it would ` +
                `take: the recommended index (\`jobguard check\` says when it is missing), or a faster disk/more cache for the scan.`
            : `with the index the release takes ${fmtMs(t.p99)} at p99, ${fmtMs(t.p99 - TARGETS[v])} over. ` +
                `${fmtMs(gone.median)} (median) go before the release, from the deadline to \`tree_gone\`: the kill ` +
                `reads /proc once to record and kill the tree and re-reads it until nothing of it is left (see row 4); ` +
                `on this host, with hundreds of processes, each read costs milliseconds, on a dyno with a handful far less. ` +
                (own.median >= 10
                  ? `The release itself (ms=) takes ${own.median} ms at the median although the index exists: check ` +
                    `with EXPLAIN that the release statement (src/release/delayed-job.ts) seeks the recommended index. `
                  : `The release itself (ms=) takes ${own.median} ms at the median. `) +
                `What it would take: a cheaper kill (row 4: a cgroup per worker tree where the platform delegates one).`,
        );
      }
    }
    return {
      n: 5,
      title: TITLE,
      summary,
      tables: [
        table(
          [
            "Indexes",
            "min",
            "median",
            "p99",
            "max",
            "of which until tree_gone (median / p99)",
            "jobguard's ms= (median / p99)",
            "jobs= per run",
            "n",
          ],
          rows,
        ),
      ],
      notes,
      misses,
      method,
    };
  } finally {
    await client.end().catch(() => {});
  }
}

type RunResult = { sample: Sample; released: boolean } | { failure: string };

export async function runOnce(
  url: string,
  client: Client,
  jobId: number,
  deadlineSec: number,
  extra: string[] = [],
): Promise<RunResult> {
  const deadlineMs = deadlineSec * 1000;
  const p = start(
    [
      process.execPath,
      JOBGUARD,
      "--deadline",
      String(deadlineSec),
      "--grace",
      String(deadlineSec + 8),
      "--queue",
      "delayed_job",
      "--database-url",
      url,
      ...extra,
      "--",
      "sh",
      "-c",
      `trap '' TERM; echo "ready $$"; exec sleep 100000`,
    ],
    { env: cleanEnv(), stdout: "pipe", stderr: "pipe" },
  );
  try {
    const ready = await p.stdout!.wait(/^ready \d+$/, 15_000);
    if (!ready) return { failure: `the worker never started; jobguard said: ${gist(p.stderr!.text())}` };
    await p.stderr!.wait(/event=started/, 15_000);
    const pid = Number(ready.text.split(" ")[1]);
    await client.query(
      `UPDATE delayed_jobs SET locked_by = $1, locked_at = now() AT TIME ZONE 'UTC' WHERE id = $2`,
      [`host:${hostname()} pid:${pid}`, jobId],
    );
    // Let jobguard's start-up database work (lease table, first heartbeat and sweep) finish, as it
    // has long before any real SIGTERM.
    await sleep(300);
    const t0 = now();
    signal(p.pid, "SIGTERM");
    const line = await p.stderr!.wait(/event=locks_released/, deadlineMs + 30_000).catch(() => undefined);
    const exit = await within(p.exit, 15_000);
    if (!line) {
      return {
        failure:
          `jobguard printed no locks_released line (it exited ${exit ? (exit.code ?? exit.signal) : "not at all"}; it said: ` +
          `\`${gist(p.stderr!.text())}\`) — the release has not landed, or it failed.`,
      };
    }
    const gone = p.stderr!.all.find((l) => l.text.includes("event=tree_gone"));
    const row = (
      await client.query<{ locked_by: string | null }>("SELECT locked_by FROM delayed_jobs WHERE id = $1", [
        jobId,
      ])
    ).rows[0];
    return {
      sample: {
        total: msBetween(t0, line.at) - deadlineMs,
        gone: gone ? msBetween(t0, gone.at) - deadlineMs : NaN,
        own: Number(field(line.text, "ms") ?? NaN),
        jobs: Number(field(line.text, "jobs") ?? NaN),
      },
      released: row?.locked_by === null,
    };
  } finally {
    await killHard(p);
  }
}

/** What `jobguard check` says about this database, in one line. */
function check(url: string): string {
  const r = spawnSync(
    process.execPath,
    [JOBGUARD, "--queue", "delayed_job", "--database-url", url, "check"],
    {
      encoding: "utf8",
      timeout: 30_000,
      env: cleanEnv(),
    },
  );
  if (r.error) return `could not run: ${r.error.message}`;
  const out = `${r.stdout ?? ""}${r.stderr ?? ""}`
    .trim()
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  const index = out.find((l) => /\bindex\b/i.test(l));
  const locks = out.filter((l) => /^host:/.test(l)).length;
  return (
    `exit ${r.status ?? r.signal}; ${index ? `\`${index.slice(0, 200)}\`` : "says nothing about an index"}` +
    `${locks ? ` (and lists ${locks} workers holding locks)` : ""}`
  );
}

/** The telling lines of a process's stderr, on one line: jobguard's own and any error. */
function gist(stderr: string): string {
  const lines = stderr
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => /^jobguard|error/i.test(l));
  const text = lines.slice(-4).join(" / ") || "nothing";
  return text.length > 400 ? `${text.slice(0, 400)}…` : text;
}
