import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { PlatformStop, Run } from "../support/jobguard.js";
import { isAlive, processesWithEnv } from "../../tools/processes.js";

// The stops of the platforms in docs/platforms/, simulated with real signals as
// test/support/jobguard.ts does Heroku's and docker stop. What a platform holds
// (a systemd unit's control group, a container, a Fly.io VM) is every process
// that inherited a marker of its own, so a double fork or a setsid does not
// leave it, as none leaves a cgroup.

/** A simulated control group, container or VM: give `env` to what it starts. */
export class Unit {
  readonly env: Record<string, string>;
  private readonly id = randomUUID();

  constructor() {
    this.env = { SIMULATED_UNIT: this.id };
  }

  /** Every living process the unit holds, the first it started (`main`) included. */
  members(main: number): number[] {
    return [...new Set([main, ...processesWithEnv("SIMULATED_UNIT", this.id)])].filter(isAlive);
  }
}

/** How a platform stops what it runs. */
export interface StopPlan {
  /** The first signal, and whether it goes to the main process alone or to every process of the unit. */
  signal: NodeJS.Signals;
  to: "main" | "all";
  /** From the start of the stop until the platform SIGKILLs every process left. */
  graceMs: number;
  /** Time the platform spends before the first signal, inside the grace (a Kubernetes preStop hook). */
  delayMs?: number;
  /** systemd sends SIGCONT right after the stop signal, so that a stopped process can act on it. */
  thenSigcont?: boolean;
  /** systemd's KillMode=mixed: SIGKILL whatever is left as soon as the main process has exited. */
  killWhenMainExits?: boolean;
}

/** What the stop did: the PlatformStop of support/jobguard.ts, and how long jobguard took. */
export interface UnitStop extends PlatformStop {
  /** Milliseconds from the start of the stop until jobguard (the main process) exited, if it did in time. */
  exitedAfterMs?: number;
}

/** Stops `run` (the unit's main process) as the plan says. */
export async function stopUnit(run: Run, unit: Unit, plan: StopPlan): Promise<UnitStop> {
  const start = Date.now();
  if (plan.delayMs) await sleep(plan.delayMs);
  if (plan.to === "all") {
    // The others first, the main process 200 ms later: two SIGTERMs that reach
    // the worker before it handles the first merge into one pending signal,
    // which would hide the second from the test, not from a worker in production.
    sendAll(
      unit.members(run.pid).filter((pid) => pid !== run.pid),
      plan,
    );
    await sleep(200);
  }
  sendAll([run.pid], plan);
  const exited = await Promise.race([
    run.exited.then((exit) => exit.at),
    sleep(Math.max(0, start + plan.graceMs - Date.now())).then(() => undefined),
  ]);
  if (exited !== undefined && !plan.killWhenMainExits && unit.members(run.pid).length > 0) {
    // What outlived the main process waits out the grace, then gets its SIGKILL.
    await sleep(Math.max(0, start + plan.graceMs - Date.now()));
  }
  const sigkilled = unit.members(run.pid);
  for (const pid of sigkilled) signal(pid, "SIGKILL");
  return {
    sigkilledJobguard: exited === undefined,
    sigkilled,
    exitedAfterMs: exited === undefined ? undefined : exited - start,
  };
}

function sendAll(pids: number[], plan: StopPlan): void {
  for (const pid of pids) signal(pid, plan.signal);
  if (plan.thenSigcont) for (const pid of pids) signal(pid, "SIGCONT");
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    /* already gone */
  }
}
