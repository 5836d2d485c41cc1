import { spawnSync } from "node:child_process";
import { closeSync, constants, mkdtempSync, openSync, rmSync } from "node:fs";
import { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { descendantsOf } from "../../tools/processes.js";
import { JOBGUARD } from "../../tools/repo.js";
import { cleanEnv, field, fmtMs, msBetween, now, summarize } from "../lib/common.js";
import { killHard, poll, signal, start, within } from "../lib/processes.js";
import { table, type RowResult, type Sizes, type SummaryLine } from "../lib/report.js";

const TARGET_P99_MS = 50;

/**
 * A tree of `size` processes that all ignore SIGTERM: the root shell, subshells,
 * and `sleep`s under them. The root alone holds fd 8 on BENCH_FIFO_ROOT; every
 * process holds fd 9 on BENCH_FIFO_ALL. A FIFO's reader sees end-of-file when
 * the last writer closes, that is when the last process holding it has exited.
 */
export function treeScript(size: number): string {
  const subshells = Math.max(1, Math.min(7, size - 1));
  const sleeps = size - 1 - subshells;
  const counts = Array.from(
    { length: subshells },
    (_, i) => Math.floor(sleeps / subshells) + (i < sleeps % subshells ? 1 : 0),
  );
  return [
    `trap '' TERM`,
    `exec 8>"$BENCH_FIFO_ROOT" 9>"$BENCH_FIFO_ALL"`,
    `for n in ${counts.join(" ")}; do`,
    `  ( i=0; while [ "$i" -lt "$n" ]; do sleep 100000 & i=$((i+1)); done; wait ) 8>&- &`,
    `done`,
    `wait`,
  ].join("\n");
}

interface Sample {
  killLate: number;
  goneLate: number;
  exitLate: number;
  ownGoneLate: number;
  killed: number;
}

/** Row 4: how late the kill comes after the deadline, and when the last process of the tree is gone. */
export async function deadlineRow(sizes: Sizes): Promise<RowResult> {
  const dir = mkdtempSync(join(tmpdir(), "jobguard-bench-"));
  const fifoRoot = join(dir, "root");
  const fifoAll = join(dir, "all");
  const mk = spawnSync("mkfifo", [fifoRoot, fifoAll], { encoding: "utf8" });
  if (mk.status !== 0) throw new Error(`mkfifo failed: ${mk.stderr || mk.error?.message}`);
  const samples: Sample[] = [];
  try {
    for (let i = 0; i < sizes.deadlineRuns; i++) samples.push(await runOnce(sizes, fifoRoot, fifoAll));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const cols = {
    kill: summarize(samples.map((s) => s.killLate)),
    gone: summarize(samples.map((s) => s.goneLate)),
    own: summarize(samples.map((s) => s.ownGoneLate)),
    exit: summarize(samples.map((s) => s.exitLate)),
  };
  const row = (label: string, s: ReturnType<typeof summarize>) => [
    label,
    fmtMs(s.min),
    fmtMs(s.median),
    fmtMs(s.p99),
    fmtMs(s.max),
    String(s.n),
  ];
  const killedCounts = [...new Set(samples.map((s) => s.killed))].join(", ");

  const summary: SummaryLine[] = [
    {
      measure: "Deadline precision: kill − deadline",
      result: `p99 ${fmtMs(cols.kill.p99)}, median ${fmtMs(cols.kill.median)} (n=${cols.kill.n})`,
      target: `p99 < ${TARGET_P99_MS} ms`,
      verdict: cols.kill.p99 < TARGET_P99_MS ? "met" : "missed",
    },
    {
      measure: `Deadline precision: last of ${sizes.treeSize} processes gone − deadline`,
      result: `p99 ${fmtMs(cols.gone.p99)}, median ${fmtMs(cols.gone.median)}`,
      target: `p99 < ${TARGET_P99_MS} ms`,
      verdict: cols.gone.p99 < TARGET_P99_MS ? "met" : "missed",
    },
  ];
  const misses: string[] = [];
  for (const [what, s] of [
    ["the kill", cols.kill],
    ["the end of the tree", cols.gone],
  ] as const) {
    if (s.p99 >= TARGET_P99_MS) {
      misses.push(
        `${what} comes ${fmtMs(s.p99)} after the deadline at p99, ${fmtMs(s.p99 - TARGET_P99_MS)} over the target. ` +
          `What it would take: at the deadline jobguard freezes the tree (SIGSTOP, then reads of /proc, a stat of ` +
          `every process and the environ of those started after the worker and still running, until two reads in a ` +
          `row find all of it stopped), kills it, then re-reads it after 1, 2, 4, 8 and every 10 ms; on a host with ` +
          `hundreds of processes each read costs milliseconds, tens on a busy one. A cgroup per worker tree ` +
          `(cgroup.kill, cgroup.procs) would make both the kill and the check constant-time, where the platform ` +
          `delegates one.`,
      );
    }
  }
  return {
    n: 4,
    title: "Deadline precision",
    summary,
    tables: [
      table(
        ["After the configured deadline", "min", "median", "p99", "max", "n"],
        [
          row("kill: the tree's root exits", cols.kill),
          row(`the last of the ${sizes.treeSize} processes exits`, cols.gone),
          row("jobguard's own `tree_gone shutdown_ms`", cols.own),
          row("jobguard itself exits", cols.exit),
        ],
      ),
    ],
    notes: [`jobguard's deadline_exceeded line named ${killedCounts} killed pid(s) per run.`],
    misses,
    method:
      `jobguard --deadline ${sizes.deadlineSec} --grace ${sizes.deadlineSec + 2} runs a shell tree of ${sizes.treeSize} ` +
      `processes (root, 7 subshells, sleeps) that all ignore SIGTERM. Once all ${sizes.treeSize} exist, the bench sends ` +
      `SIGTERM to jobguard and reads CLOCK_MONOTONIC. The root alone holds one FIFO open and every process holds another; ` +
      `the bench sees end-of-file on the first when the root has exited (the kill: one process-group SIGKILL reaches all ` +
      `at once) and on the second when the last process has. Times are minus the configured deadline; ` +
      `${sizes.deadlineRuns} runs, one after another.`,
  };
}

async function runOnce(sizes: Sizes, fifoRoot: string, fifoAll: string): Promise<Sample> {
  const deadlineMs = sizes.deadlineSec * 1000;
  // Open the read ends first (non-blocking), so that the writers' open() does not block.
  const fdRoot = openSync(fifoRoot, constants.O_RDONLY | constants.O_NONBLOCK);
  const fdAll = openSync(fifoAll, constants.O_RDONLY | constants.O_NONBLOCK);
  const p = start(
    [
      process.execPath,
      JOBGUARD,
      "--deadline",
      String(sizes.deadlineSec),
      "--grace",
      String(sizes.deadlineSec + 2),
      "--",
      "sh",
      "-c",
      treeScript(sizes.treeSize),
    ],
    { env: cleanEnv({ BENCH_FIFO_ROOT: fifoRoot, BENCH_FIFO_ALL: fifoAll }), stderr: "pipe" },
  );
  const sockets: Socket[] = [];
  try {
    await poll(
      () => descendantsOf(p.pid).length >= sizes.treeSize,
      15_000,
      `a tree of ${sizes.treeSize} processes`,
    );
    // Only now, with every writer present, is end-of-file a real end.
    const eof = (fd: number) =>
      new Promise<bigint>((resolve, reject) => {
        const s = new Socket({ fd, readable: true, writable: false });
        sockets.push(s);
        s.on("error", reject);
        s.on("end", () => resolve(now()));
        s.resume();
      });
    const rootGone = eof(fdRoot);
    const allGone = eof(fdAll);
    const t0 = now();
    signal(p.pid, "SIGTERM");
    const waited = await within(Promise.all([rootGone, allGone, p.exit]), deadlineMs + 10_000);
    if (!waited)
      throw new Error(
        `the tree or jobguard outlived the deadline by 10 s; jobguard said:\n${p.stderr!.text()}`,
      );
    const [rootAt, allAt, exit] = waited;
    if (exit.code !== 124)
      throw new Error(`jobguard exited ${exit.code ?? exit.signal}, not 124; it said:\n${p.stderr!.text()}`);
    const stderr = p.stderr!;
    await stderr.wait(/event=exit/, 5_000);
    const gone = stderr.all.find((l) => l.text.includes("event=tree_gone"))?.text;
    const killed = stderr.all.find((l) => l.text.includes("event=deadline_exceeded"))?.text;
    return {
      killLate: msBetween(t0, rootAt) - deadlineMs,
      goneLate: msBetween(t0, allAt) - deadlineMs,
      exitLate: msBetween(t0, exit.at) - deadlineMs,
      ownGoneLate: Number(field(gone, "shutdown_ms") ?? NaN) - deadlineMs,
      killed: (field(killed, "killed") ?? "").split(",").filter(Boolean).length,
    };
  } finally {
    for (const s of sockets) s.destroy();
    if (sockets.length < 2) {
      // the sockets own (and close) their fds once created
      for (const fd of [fdRoot, fdAll].slice(sockets.length)) {
        try {
          closeSync(fd);
        } catch {
          /* closed */
        }
      }
    }
    await killHard(p);
  }
}
