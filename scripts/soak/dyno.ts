import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { withoutJobguardSettings } from "../../tools/env.js";
import { waitGone } from "../../tools/processes.js";
import { JOBGUARD, REPO_ROOT } from "../../tools/repo.js";
import { DYNO_VAR, dynoProcesses, killAll } from "./procs.js";

// A simulated dyno: jobguard in front of the tests' real delayed_job worker,
// under a host name of its own (`unshare --uts`), restarted by its "platform"
// (this file) whenever it ends, as Heroku restarts a crashed dyno.

const WORKER = join(REPO_ROOT, "test", "fixtures", "delayed_job", "worker.rb");
const SOAK_JOB = join(REPO_ROOT, "scripts", "soak", "soak_job.rb");

/** The platform's grace and jobguard's deadline, in seconds, for every dyno. */
export const GRACE_S = 2;
export const DEADLINE_S = 1;
const MAX_RESCUES = 1000;

/** A dyno's lease timing: dynos of two releases side by side may differ. */
export interface LeaseTiming {
  heartbeat: number;
  staleAfter: number;
}

/** Something a dyno did that breaks a promise of jobguard's. */
export interface DynoViolation {
  dyno: string;
  what: string;
}

/** One boot of a dyno: a jobguard and everything it starts, tagged `<soak>:<dyno>:<n>`. */
export interface Generation {
  tag: string;
  pid: number;
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  /** Set once a fault took this generation: no second fault lands on it. */
  faulted: boolean;
}

export interface DynoOptions {
  name: string;
  soakId: string;
  timing: LeaseTiming;
  databaseUrl: string;
  eventsFile: string;
  logDir: string;
  /** Each line jobguard or the worker writes to stderr. */
  onLine: (dyno: string, line: string) => void;
  onViolation: (v: DynoViolation) => void;
}

export class Dyno {
  readonly name: string;
  current: Generation | undefined;
  boots = 0;
  /** For each platform stop jobguard met, how long after the SIGTERM it exited. */
  readonly stopMs: number[] = [];
  /** Exits nobody asked for: the worker or jobguard ended on its own (a crash, a fence). */
  readonly ownExits: string[] = [];
  private stopping = false;
  private loop: Promise<void> | undefined;
  private readonly log: WriteStream;

  constructor(private readonly options: DynoOptions) {
    this.name = options.name;
    this.log = createWriteStream(join(options.logDir, `${options.name}.log`), { flags: "a" });
  }

  /** Boots the dyno, and again each time it ends, until stop(). */
  start(): void {
    this.loop ??= this.run();
  }

  /** The processes of the running generation (jobguard, its watchdog, the worker). */
  processes(): number[] {
    return this.current ? dynoProcesses(this.current.tag).map((p) => p.pid) : [];
  }

  /** The running generation, if it may take a fault: its jobguard runs and no fault has landed on it yet. */
  target(): Generation | undefined {
    const gen = this.current;
    return gen && !gen.faulted && running(gen) ? gen : undefined;
  }

  /**
   * A platform stop: SIGTERM to every process of the generation, SIGKILL to
   * whatever is left after the grace. jobguard must be gone by then, and with
   * it its tree.
   */
  async platformStop(gen: Generation): Promise<void> {
    gen.faulted = true;
    const sentAt = Date.now();
    killAll(
      dynoProcesses(gen.tag).map((p) => p.pid),
      "SIGTERM",
    );
    const exit = await Promise.race([gen.exited, sleep(GRACE_S * 1000).then(() => undefined)]);
    const left = dynoProcesses(gen.tag);
    if (exit) this.stopMs.push(exit.at - sentAt);
    if (!exit) this.violation(`jobguard ${gen.pid} still ran ${GRACE_S} s after the platform's SIGTERM`);
    else if (left.length)
      this.violation(
        `${describe(left)} outlived the grace after the SIGTERM (jobguard exited at +${exit.at - sentAt} ms)`,
      );
    killAll(left.map((p) => p.pid));
  }

  /** Ends the dyno for good: a last platform stop, and no reboot. */
  async stop(): Promise<void> {
    this.stopping = true;
    const gen = this.current;
    // A fault's own stop may still be under way: a second SIGTERM would be a second stop.
    if (gen && running(gen) && gen.faulted) await Promise.race([gen.exited, sleep(GRACE_S * 5000)]);
    if (gen && running(gen)) await this.platformStop(gen);
    await this.loop;
    this.log.end();
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      const gen = this.boot();
      const exit = await gen.exited;
      if (!gen.faulted && !this.stopping) this.ownExits.push(`code=${exit.code} signal=${exit.signal}`);
      // What outlives jobguard (a watchdog stopping the worker) must be gone within the grace.
      const tagged = dynoProcesses(gen.tag).map((p) => p.pid);
      const left = await waitGone(tagged, Math.max(0, exit.at + GRACE_S * 1000 - Date.now()));
      if (left.length) {
        this.violation(
          `${describe(dynoProcesses(gen.tag))} outlived jobguard ${gen.pid} by more than the grace`,
        );
        killAll(left);
        await waitGone(left, 5000);
      }
      if (!this.stopping) await sleep(500);
    }
  }

  private boot(): Generation {
    const { name, soakId, timing, databaseUrl, eventsFile } = this.options;
    const tag = `${soakId}:${name}:${++this.boots}`;
    const args = ["--deadline", String(DEADLINE_S), "--grace", String(GRACE_S)];
    args.push("--heartbeat", String(timing.heartbeat), "--stale-after", String(timing.staleAfter));
    // The soak kills healthy jobs' workers every few seconds: a job failed as a poison job would be its doing.
    args.push("--max-rescues", String(MAX_RESCUES));
    const jobguard = [process.execPath, JOBGUARD, ...args, "--", "ruby", "-r", SOAK_JOB, WORKER];
    const child = spawn("unshare", ["--uts", "sh", "-c", 'hostname "$0" && exec "$@"', name, ...jobguard], {
      env: {
        ...withoutJobguardSettings(),
        JOBGUARD_QUEUE: "delayed_job",
        DATABASE_URL: databaseUrl,
        DJ_SLEEP_DELAY: "0.2",
        JOB_EVENTS: eventsFile,
        [DYNO_VAR]: tag,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.write(`--- boot ${tag} pid ${child.pid} at ${new Date().toISOString()}\n`);
    let partial = "";
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      this.write(chunk);
      const lines = (partial + chunk).split("\n");
      partial = lines.pop()!;
      for (const line of lines) this.options.onLine(name, line);
    });
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => this.write(chunk));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((done) =>
      child.once("exit", (code, signal) => {
        this.write(`--- ${tag} exited code=${code} signal=${signal}\n`);
        done({ code, signal, at: Date.now() });
      }),
    );
    const gen: Generation = { tag, pid: child.pid!, child, exited, faulted: false };
    this.current = gen;
    return gen;
  }

  /** Appends to the dyno's log; a last line from a pipe after the log closed is dropped. */
  private write(text: string): void {
    if (!this.log.writableEnded) this.log.write(text);
  }

  private violation(what: string): void {
    this.options.onViolation({ dyno: this.name, what });
  }
}

/** True while the generation's jobguard runs. */
function running(gen: Generation): boolean {
  return gen.child.exitCode === null && gen.child.signalCode === null;
}

/** "ruby 123, sh 456": what a list of processes was. */
function describe(processes: { pid: number; command: string }[]): string {
  return (
    processes.map((p) => `${p.command.split(" ")[0]?.split("/").pop()} ${p.pid}`).join(", ") || "nothing"
  );
}
