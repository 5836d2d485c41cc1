import type { JobRun, Overlap } from "./events.js";
import { FAULT_NAMES, FAULTS, type Fault } from "./faults.js";
import type { DeadLock } from "./watch.js";

// The soak's verdict: what it checked and the figures, as the lines it prints.

/** What jobguard's log lines said, over every dyno. */
export interface LogCounts {
  /** Jobs a sweep released (event=swept released=...). */
  swept: number;
  /** Jobs a jobguard released after its own worker died (event=locks_released jobs=N). */
  released: number;
  unprovable: number;
  leaseLost: number;
  internalErrors: number;
}

export interface Figures {
  seed: number;
  dynos: string[];
  durationS: number;
  drainMs: number;
  enqueued: Set<string>;
  runs: JobRun[];
  faults: Map<Fault, number>;
  boots: number;
  ownExits: string[];
  /** For each platform stop jobguard met, how long after the SIGTERM it exited. */
  stopMs: number[];
  graceMs: number;
  log: LogCounts;
  longest: (DeadLock & { ms: number }) | undefined;
  pidsSeen: number;
}

export interface Checks {
  /** Jobs not done at the end, and why. */
  notDone: string[];
  overlaps: Overlap[];
  /** What broke jobguard's grace or left its tree behind (dyno: what). */
  dynoViolations: string[];
  /** Locks still held by dead workers when the soak ended. */
  stuck: DeadLock[];
  /** Processes of the soak's dynos still alive at the end. */
  leftovers: string[];
}

export function violationCount(c: Checks): number {
  return c.notDone.length + c.overlaps.length + c.dynoViolations.length + c.stuck.length + c.leftovers.length;
}

const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** The report, line by line. */
export function report(f: Figures, c: Checks): string[] {
  const finished = new Set(f.runs.filter((r) => r.finished).map((r) => r.label));
  const lines = [
    `soak: seed ${f.seed}, ${f.dynos.length} dynos (${f.dynos.join("; ")}), ${f.durationS} s of faults, drained in ${s(f.drainMs)}`,
    `jobs: ${f.enqueued.size} enqueued, ${[...f.enqueued].filter((l) => finished.has(l)).length} done, ` +
      `${f.runs.length} runs (${f.runs.filter((r) => !r.finished).length} cut short by a fault)`,
    `faults: ${[...f.faults.values()].reduce((a, b) => a + b, 0)} in all`,
    ...FAULTS.map((k) => `  ${String(f.faults.get(k) ?? 0).padStart(4)} ${FAULT_NAMES[k]}`),
    `dynos: ${f.boots} boots, ${f.ownExits.length} exits nobody asked for` +
      (f.ownExits.length ? ` (${tally(f.ownExits)})` : "") +
      `, ${f.pidsSeen} processes seen`,
    f.stopMs.length
      ? `platform stops: jobguard exited ${s(Math.max(...f.stopMs))} after the SIGTERM at worst ` +
        `(median ${s(median(f.stopMs))}, grace ${s(f.graceMs)}, ${f.stopMs.length} stops that it met)`
      : "platform stops: none that jobguard met",
    `rescues: ${f.log.swept} job(s) released by another dyno's sweep, ${f.log.released} by their own jobguard; ` +
      `${f.log.unprovable} rescue_unprovable, ${f.log.leaseLost} lease_lost, ${f.log.internalErrors} internal_error line(s)`,
    f.longest
      ? `longest a job stayed locked by a dead worker: ${s(f.longest.ms)} (job ${f.longest.id}, ${f.longest.lockedBy})`
      : "no job was seen locked by a dead worker",
  ];
  const n = violationCount(c);
  lines.push(n === 0 ? "violations: none" : `violations: ${n}`);
  for (const v of c.notDone) lines.push(`  not done: ${v}`);
  for (const o of c.overlaps)
    lines.push(
      `  run twice at once: job ${o.label} by pid ${o.a.pid} (${span(o.a)}) and pid ${o.b.pid} (${span(o.b)})`,
    );
  for (const v of c.dynoViolations) lines.push(`  ${v}`);
  for (const l of c.stuck)
    lines.push(`  still locked by a dead worker: job ${l.id} (${l.lockedBy}) for ${s(Date.now() - l.since)}`);
  for (const l of c.leftovers) lines.push(`  left running: ${l}`);
  return lines;
}

function span(r: JobRun): string {
  return `${new Date(r.start).toISOString().slice(11, 23)} to ${new Date(r.last).toISOString().slice(11, 23)}${r.finished ? "" : ", cut short"}`;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** "code=1 signal=null x2, ...". */
function tally(items: string[]): string {
  const counts = new Map<string, number>();
  for (const i of items) counts.set(i, (counts.get(i) ?? 0) + 1);
  return [...counts].map(([k, v]) => (v > 1 ? `${k} x${v}` : k)).join(", ");
}
