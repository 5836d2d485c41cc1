import { readFileSync } from "node:fs";

// What the jobs wrote (scripts/soak/soak_job.rb): "started", "alive" every
// 0.2 s and "finished" lines, `event label pid epoch-ms`. Each line proves its
// process was alive and running the job at that moment, so two runs of one job
// whose spans [started, last line] intersect were run by two live processes
// at once. (A run killed less than 0.2 s after its last line may have lived a
// little longer than its span: the check can miss an overlap that short, never
// report one that did not happen.)

/** One run of a job by one process. */
export interface JobRun {
  label: string;
  pid: number;
  start: number;
  last: number;
  finished: boolean;
}

/** Two runs of one job that were alive at the same time. */
export interface Overlap {
  label: string;
  a: JobRun;
  b: JobRun;
}

/** The runs the events file records, in the order they started. */
export function readRuns(file: string): JobRun[] {
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return []; // no job ever started
  }
  const runs: JobRun[] = [];
  const open = new Map<string, JobRun>(); // by label and pid: a worker runs one job at a time
  for (const line of text.split("\n")) {
    const [event, label, pid, at] = line.split(" ");
    if (!event || !label || !pid || !at) continue;
    const key = `${label} ${pid}`;
    const time = Number(at);
    if (event === "started") {
      const run: JobRun = { label, pid: Number(pid), start: time, last: time, finished: false };
      runs.push(run);
      open.set(key, run);
      continue;
    }
    const run = open.get(key);
    if (!run) continue;
    run.last = Math.max(run.last, time);
    if (event === "finished") {
      run.finished = true;
      open.delete(key);
    }
  }
  return runs;
}

/** Every pair of runs of one job, by two processes, whose spans intersect. */
export function overlaps(runs: JobRun[]): Overlap[] {
  const found: Overlap[] = [];
  const byLabel = new Map<string, JobRun[]>();
  for (const run of runs) byLabel.set(run.label, [...(byLabel.get(run.label) ?? []), run]);
  for (const [label, list] of byLabel) {
    for (let i = 0; i < list.length; i++) {
      for (let j = i + 1; j < list.length; j++) {
        const [a, b] = [list[i]!, list[j]!];
        if (a.pid !== b.pid && a.start <= b.last && b.start <= a.last) found.push({ label, a, b });
      }
    }
  }
  return found;
}
