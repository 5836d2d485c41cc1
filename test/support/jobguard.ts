import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { withoutJobguardSettings } from "../../tools/env.js";
import { descendantsOf, isAlive, processesWithEnv } from "../../tools/processes.js";
import { JOBGUARD, REPO_ROOT } from "../../tools/repo.js";

/** A fixture under test/fixtures. */
export function fixture(name: string): string {
  return join(REPO_ROOT, "test/fixtures", name);
}

/** A fresh temporary directory. */
export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "jobguard-test-"));
}

/** A running jobguard and what it has said so far. */
export interface Run {
  child: ChildProcess;
  pid: number;
  startedAt: number;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  /** Resolves once stderr has a line matching the pattern. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
}

/** How runJobguard starts jobguard, beyond its arguments and environment. */
export interface RunOptions {
  stdin?: "ignore" | "pipe";
  /** A UTS namespace of its own under this host name, like a dyno of its own. */
  hostname?: string;
  /** Options for the node running jobguard (`--import` a fault), never seen by the worker. */
  nodeArgs?: string[];
  /** A command that sets something up and then execs jobguard (setpriv, unshare). */
  wrapper?: string[];
}

/**
 * Starts jobguard with these arguments; only JOBGUARD_* and DYNO come from the
 * caller, the rest is the test's own environment. Every wrapper execs in turn,
 * so the pid spawned here is jobguard's.
 */
export function runJobguard(args: string[], env: NodeJS.ProcessEnv = {}, options: RunOptions = {}): Run {
  const startedAt = Date.now();
  const argv = [...(options.wrapper ?? []), process.execPath, ...(options.nodeArgs ?? []), JOBGUARD, ...args];
  const [file, ...rest] = options.hostname
    ? ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', options.hostname, ...argv]
    : argv;
  const child = spawn(file!, rest, {
    env: { ...withoutJobguardSettings(), ...OWNED, ...env },
    stdio: [options.stdin ?? "ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  child.stdout!.setEncoding("utf8").on("data", () => {});
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((done) =>
    child.on("exit", (code, signal) => done({ code, signal, at: Date.now() })),
  );
  const run: Run = {
    child,
    pid: child.pid!,
    startedAt,
    stderr: () => stderr,
    exited,
    async waitFor(pattern, timeoutMs = 10_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const line = stderr.split("\n").find((l) => pattern.test(l));
        if (line) return line;
        if (Date.now() > until)
          throw new Error(`no line matching ${pattern} within ${timeoutMs} ms; stderr:\n${stderr}`);
        await sleep(10);
      }
    },
  };
  runs.push(run);
  return run;
}

const runs: Run[] = [];

/** Runs jobguard to its exit (`check`, `rescue`): its exit code and what it wrote to stdout. */
export async function runCommand(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; out: string }> {
  const run = runJobguard(args, env);
  let out = "";
  run.child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
  const { code } = await run.exited;
  return { code, out };
}

/**
 * Marks what this test file starts: every process that inherits it belongs
 * here, even one orphaned when its jobguard died early (a bug that happened).
 */
export const OWNED = { TEST_OWNER: String(process.pid) };

/**
 * SIGKILLs every jobguard a test started that still runs, with its whole tree,
 * and every orphan that carries OWNED, as a platform would: a test that fails
 * half-way leaves nothing behind.
 * Register it with node:test's after() in each file that starts jobguards.
 */
export function killLeftovers(): void {
  for (const run of runs.splice(0)) {
    if (!isAlive(run.pid)) continue;
    for (const pid of [run.pid, ...descendantsOf(run.pid)]) signal(pid, "SIGKILL");
  }
  for (const pid of processesWithEnv("TEST_OWNER", OWNED.TEST_OWNER)) signal(pid, "SIGKILL");
}

/** What a simulated platform saw: whether it had to SIGKILL jobguard at the end of the grace period. */
export interface PlatformStop {
  sigkilledJobguard: boolean;
  /** Processes the platform had to SIGKILL at the end of the grace period. */
  sigkilled: number[];
}

/**
 * Heroku's dyno manager: SIGTERM to every process in the dyno (`times` rounds,
 * a little apart), then SIGKILL to whatever is left after the grace period.
 * The dyno is jobguard and all its descendants.
 */
export async function herokuRestart(run: Run, graceMs: number, times = 1): Promise<PlatformStop> {
  const start = Date.now();
  const everyone = new Set<number>();
  for (let round = 0; round < times; round++) {
    const dyno = [run.pid, ...descendantsOf(run.pid)];
    for (const pid of dyno) {
      everyone.add(pid);
      signal(pid, "SIGTERM");
    }
    if (round < times - 1) await sleep(100);
  }
  return finishGrace(run, start + graceMs, () => [
    ...everyone,
    ...(isAlive(run.pid) ? descendantsOf(run.pid) : []),
  ]);
}

/** `docker stop`: SIGTERM to jobguard alone (`times` times), SIGKILL to the whole container after the grace period. */
export async function dockerStop(run: Run, graceMs: number, times = 1): Promise<PlatformStop> {
  const start = Date.now();
  const container = [run.pid, ...descendantsOf(run.pid)];
  for (let round = 0; round < times; round++) {
    signal(run.pid, "SIGTERM");
    if (round < times - 1) await sleep(100);
  }
  return finishGrace(run, start + graceMs, () => [
    ...container,
    ...(isAlive(run.pid) ? descendantsOf(run.pid) : []),
  ]);
}

async function finishGrace(run: Run, killAt: number, targets: () => number[]): Promise<PlatformStop> {
  const exitedInTime = await Promise.race([
    run.exited.then(() => true),
    sleep(Math.max(0, killAt - Date.now())).then(() => false),
  ]);
  // The platform's SIGKILL ends everything left in the dyno or container.
  const sigkilled = [...new Set(targets())].filter((pid) => isAlive(pid));
  for (const pid of sigkilled) signal(pid, "SIGKILL");
  return { sigkilledJobguard: !exitedInTime, sigkilled };
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    /* already gone */
  }
}
