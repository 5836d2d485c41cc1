import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { fixture, killLeftovers, runJobguard, tempDir } from "../support/jobguard.js";
import { readPids } from "../../tools/processes.js";
import { systemdUnit } from "./read-examples.js";
import { stopUnit, Unit, type StopPlan } from "./stops.js";

// `systemctl stop` as systemd.kill(5) describes it, against the unit file of
// docs/platforms/systemd.md: KillSignal (SIGTERM) and a SIGCONT, to the main
// process (KillMode=mixed) or to every process of the control group
// (control-group, the default), then SIGKILL to what is left after
// TimeoutStopSec. The unit's TimeoutStopSec and JOBGUARD_GRACE are scaled down
// to GRACE_S together, so that a test takes seconds rather than a minute.

after(killLeftovers);

const GRACE_S = 3;

function signalsHeard(events: string): string[] {
  return existsSync(events) ? readFileSync(events, "utf8").split("\n").filter(Boolean) : [];
}

/** Runs the example unit's jobguard over a worker that ignores SIGTERM, with a stubborn child, and stops it. */
async function stopService(killMode: string, extraEnv: Record<string, string> = {}) {
  const { env } = systemdUnit();
  const dir = tempDir();
  const events = join(dir, "events");
  const pids = join(dir, "pids");
  const unit = new Unit();
  const jobguardEnv = { ...env, JOBGUARD_QUEUE: "", JOBGUARD_GRACE: String(GRACE_S), ...extraEnv };
  const run = runJobguard(["--", fixture("worker.sh")], {
    ...jobguardEnv,
    ...unit.env,
    EVENTS: events,
    PIDS: pids,
    ON_TERM: "ignore",
    SPAWN: "child",
  });
  for (let i = 0; i < 500 && !signalsHeard(events).includes("READY"); i++) await sleep(10);
  await sleep(100); // the child writes its pid as it starts
  const plan: StopPlan = {
    signal: "SIGTERM",
    to: killMode === "mixed" ? "main" : "all",
    graceMs: GRACE_S * 1000,
    thenSigcont: true,
    killWhenMainExits: killMode === "mixed",
  };
  const stop = await stopUnit(run, unit, plan);
  const exit = await run.exited;
  return { stop, exit, heard: signalsHeard(events).filter((e) => e !== "READY"), pids: readPids(pids), run };
}

test("the example unit says KillMode=mixed, and its TimeoutStopSec is its JOBGUARD_GRACE", () => {
  const { settings, env } = systemdUnit();
  assert.equal(settings.KillMode, "mixed");
  assert.equal(settings.KillSignal ?? "SIGTERM", "SIGTERM");
  assert.ok(settings.TimeoutStopSec, "TimeoutStopSec is written out, not left at the manager's 90 s");
  assert.equal(env.JOBGUARD_GRACE, settings.TimeoutStopSec);
  assert.equal(env.JOBGUARD_FORWARD, undefined, "auto forwards: systemd signals jobguard alone");
  assert.match(settings.ExecStart ?? "", /^\S*jobguard -- \S/, "jobguard is the main process, not a shell");
});

test("systemd, KillMode=mixed (the example): the worker hears SIGTERM once, jobguard exits before TimeoutStopSec, nothing left", async () => {
  const { stop, exit, heard, pids, run } = await stopService("mixed");
  assert.deepEqual(heard, ["TERM"], "one SIGTERM, jobguard's");
  assert.equal(exit.code, 124, run.stderr());
  assert.equal(stop.sigkilledJobguard, false, "jobguard outlived TimeoutStopSec");
  assert.ok(stop.exitedAfterMs! < GRACE_S * 1000, `exited after ${stop.exitedAfterMs} ms`);
  assert.deepEqual(stop.sigkilled, [], "systemd had processes left to SIGKILL");
  assert.equal(pids.length, 2, "the worker and its child");
  assert.match(run.stderr(), /event=started .*deadline=2 grace=3 forward=auto forward_sigterm=true/);
});

test("systemd, KillMode=control-group (the default) with jobguard's defaults: the worker hears SIGTERM twice", async () => {
  // What docs/platforms/systemd.md warns of: systemd signals every process, and
  // `auto` cannot tell, so jobguard forwards a second SIGTERM.
  const { stop, exit, heard, run } = await stopService("control-group");
  assert.deepEqual(heard, ["TERM", "TERM"]);
  assert.equal(exit.code, 124, run.stderr());
  assert.equal(stop.sigkilledJobguard, false);
  assert.deepEqual(stop.sigkilled, []);
});

test("systemd, KillMode=control-group with JOBGUARD_FORWARD=never: once, systemd's; nothing left", async () => {
  const { stop, exit, heard, run } = await stopService("control-group", { JOBGUARD_FORWARD: "never" });
  assert.deepEqual(heard, ["TERM"], "systemd's SIGTERM, and none from jobguard");
  assert.equal(exit.code, 124, run.stderr());
  assert.equal(stop.sigkilledJobguard, false, "jobguard outlived TimeoutStopSec");
  assert.ok(stop.exitedAfterMs! < GRACE_S * 1000, `exited after ${stop.exitedAfterMs} ms`);
  assert.deepEqual(stop.sigkilled, [], "systemd had processes left to SIGKILL");
  assert.match(run.stderr(), /event=signal signal=SIGTERM forwarded=false/);
});
