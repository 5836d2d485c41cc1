import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createConnection } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { descendantsOf, isAlive, waitGone } from "../../tools/processes.js";
import {
  dockerStop,
  herokuRestart,
  OWNED,
  runJobguard,
  tempDir,
  type PlatformStop,
  type Run,
} from "./jobguard.js";

// The worker matrix (docs/workers.md): a real worker, a real broker, a
// simulated platform stop, with and without jobguard in front.

/** One worker of the matrix, as a test drives it. */
export interface MatrixWorker {
  /** The worker command, as a Procfile runs it. */
  command: string[];
  /** Its environment (broker URLs); JOB_EVENTS is added per run. */
  env: NodeJS.ProcessEnv;
  /** jobguard's settings for this worker, before `--`. */
  jobguard: string[];
  enqueue(label: string, seconds: number): void | Promise<void>;
  /** Where the job is in the broker or database, in the row's own words ("queued", "locked", ...). */
  state(label: string): string | Promise<string>;
}

/** Heroku Cedar (every process, SIGTERM twice) or Docker/Kubernetes (the main process, once). */
export type Delivery = "cedar" | "docker";

/** A job's line in JOB_EVENTS, written by test/fixtures/job_events.{rb,py} and job-events.mjs. */
export interface JobEvent {
  event: "started" | "finished";
  label: string;
  pid: number;
  at: number;
}

/** What a restart in the middle of a job left behind. */
export interface RestartOutcome {
  run: Run;
  exit: { code: number | null; signal: NodeJS.Signals | null; at: number };
  stop: PlatformStop;
  /** Milliseconds from the platform's first SIGTERM to the exit of jobguard (or of the bare worker). */
  tookMs: number;
  /** Processes of the dyno/container still alive after the stop (should be none). */
  survivors: number[];
  events: JobEvent[];
  /** The JOB_EVENTS file, for a rerun. */
  eventsFile: string;
  state: string;
}

export interface RestartOptions {
  label: string;
  /** How long the job takes on its first run. */
  seconds: number;
  guarded: boolean;
  delivery: Delivery;
  graceS: number;
  /** Extra environment for this run (DYNO, JOBGUARD_*). */
  env?: NodeJS.ProcessEnv;
  /** Extra jobguard arguments, before the worker's own. */
  args?: string[];
  /** Replaces the worker's command (a different -t). */
  command?: string[];
  /** How many rounds of SIGTERM a Cedar stop sends (default 2, the worst case). */
  times?: number;
}

/**
 * Enqueues a job, starts the worker (under jobguard or bare, as the main
 * process of the dyno or container), waits until the job runs, stops the
 * platform's way, and reports what was left.
 */
export async function restartDuringJob(
  worker: MatrixWorker,
  o: RestartOptions,
  events = join(tempDir(), "events"),
): Promise<RestartOutcome> {
  await worker.enqueue(o.label, o.seconds);
  // Cedar names its dynos like this, and jobguard's `auto` reads it.
  const env = {
    ...worker.env,
    JOB_EVENTS: events,
    ...(o.delivery === "cedar" ? { DYNO: "worker.1" } : {}),
    ...o.env,
  };
  const command = o.command ?? worker.command;
  const run = o.guarded
    ? runJobguard([...worker.jobguard, ...(o.args ?? []), "--", ...command], env)
    : runBare(command, env);
  await waitForEvent(events, "started", o.label, 40_000, run);
  const dyno = [run.pid, ...descendantsOf(run.pid)];
  const signalledAt = Date.now();
  const stop =
    o.delivery === "cedar"
      ? await herokuRestart(run, o.graceS * 1000, o.times ?? 2)
      : await dockerStop(run, o.graceS * 1000);
  const exit = await run.exited;
  const survivors = await waitGone(dyno, 1000);
  return {
    run,
    exit,
    stop,
    tookMs: exit.at - signalledAt,
    survivors,
    events: readEvents(events),
    eventsFile: events,
    state: await worker.state(o.label),
  };
}

/**
 * Starts the worker bare (no jobguard), lets it pick the job up again, and
 * resolves with the run that finished it (any process but `firstPid`, the one
 * the restart interrupted); the worker is then SIGKILLed.
 */
export async function rerunUntilFinished(
  worker: MatrixWorker,
  label: string,
  events: string,
  firstPid: number,
  timeoutMs = 40_000,
): Promise<JobEvent> {
  const run = runBare(worker.command, { ...worker.env, JOB_EVENTS: events });
  try {
    return await waitForEvent(events, "finished", label, timeoutMs, run, (e) => e.pid !== firstPid);
  } finally {
    for (const pid of [run.pid, ...descendantsOf(run.pid)]) kill(pid);
    await run.exited;
  }
}

/** A worker run without jobguard, as the main process of its container; a Run so that the platform helpers take it. */
export function runBare(command: string[], env: NodeJS.ProcessEnv): Run {
  const [file, ...args] = command as [string, ...string[]];
  const child = spawn(file, args, {
    env: { ...process.env, ...OWNED, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((done) =>
    child.on("exit", (code, signal) => done({ code, signal, at: Date.now() })),
  );
  return {
    child,
    pid: child.pid!,
    startedAt: Date.now(),
    stderr: () => output,
    exited,
    waitFor: () => Promise.reject(new Error("a bare worker has no jobguard log")),
  };
}

/** The job lines written so far. */
export function readEvents(file: string): JobEvent[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [event, label, pid, at] = line.split(" ");
      return { event: event as JobEvent["event"], label: label!, pid: Number(pid), at: Number(at) };
    });
}

async function waitForEvent(
  file: string,
  event: JobEvent["event"],
  label: string,
  timeoutMs: number,
  run: Run,
  accept = (_: JobEvent) => true,
): Promise<JobEvent> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const found = readEvents(file).find((e) => e.event === event && e.label === label && accept(e));
    if (found) return found;
    if (Date.now() > until || !isAlive(run.pid)) {
      throw new Error(
        `no "${event} ${label}" within ${timeoutMs} ms (worker ${isAlive(run.pid) ? "running" : "gone"}); output:\n${run.stderr()}`,
      );
    }
    await sleep(50);
  }
}

function kill(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    /* gone */
  }
}

// Skips: a missing runtime or broker skips a test with its reason, unless
// JOBGUARD_REQUIRE_WORKERS=1 (set by .ci/run), which makes it a failure:
// prerequisite(t, "JOBGUARD_REQUIRE_WORKERS", ...reasons).

/** Why a command cannot run (`args` is a harmless probe), or null when it can. */
export function commandSkipReason(command: string, args: string[], hint: string): string | null {
  const probe = spawnSync(command, args, { encoding: "utf8", timeout: 30_000 });
  if (probe.error) return `${command} not runnable: ${probe.error.message} (${hint})`;
  if (probe.status !== 0)
    return `${command} ${args.join(" ")} failed: ${(probe.stderr || "").trim().split("\n").pop()} (${hint})`;
  return null;
}

/** Why nothing answers on 127.0.0.1:port, or null when something does. */
export async function brokerSkipReason(name: string, port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    const done = (reason: string | null) => {
      socket.destroy();
      resolve(reason);
    };
    socket.setTimeout(2000, () => done(`${name} does not answer on 127.0.0.1:${port} (timeout)`));
    socket.once("connect", () => done(null));
    socket.once("error", (error) => done(`${name} is not reachable on 127.0.0.1:${port}: ${error.message}`));
  });
}

/** redis-cli against one database of the local Redis; the output, trimmed. */
export function redisCli(db: number, ...args: string[]): string {
  const r = spawnSync("redis-cli", ["-h", "127.0.0.1", "-p", "6379", "-n", String(db), ...args], {
    encoding: "utf8",
  });
  if (r.status !== 0 || r.error)
    throw new Error(`redis-cli ${args.join(" ")}: ${r.error?.message ?? r.stderr}`);
  return r.stdout.trim();
}

/** The Python that sees Debian's python3-rq and python3-celery (a pyenv python3 on the PATH would not). */
export const DEBIAN_PYTHON = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";

/** Runs a Python fixture script; its stdout, trimmed. */
export function python(script: string, args: string[], env: NodeJS.ProcessEnv = {}, cwd?: string): string {
  const r = spawnSync(DEBIAN_PYTHON, [script, ...args], {
    encoding: "utf8",
    env: { ...process.env, ...env },
    cwd,
    timeout: 30_000,
  });
  if (r.status !== 0 || r.error)
    throw new Error(`${script} ${args.join(" ")}: ${r.error?.message ?? r.stderr}`);
  return r.stdout.trim();
}
