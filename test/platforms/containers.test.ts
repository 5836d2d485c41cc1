import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { fixture, killLeftovers, runJobguard, tempDir } from "../support/jobguard.js";
import { dockerfile } from "./read-examples.js";
import { stopUnit, Unit } from "./stops.js";

// Containers without a container engine: the example Dockerfile's ENTRYPOINT
// run here as the engine would run it, stopped as `docker stop` stops a
// container (its STOPSIGNAL to PID 1, SIGKILL to everything after the grace),
// and Kubernetes' stop with a preStop hook that eats into the grace.

after(killLeftovers);

const TINI = "/usr/bin/tini";

function heard(events: string): string[] {
  return existsSync(events)
    ? readFileSync(events, "utf8")
        .split("\n")
        .filter((e) => e && e !== "READY")
    : [];
}

async function ready(events: string): Promise<void> {
  for (let i = 0; i < 500 && !existsSync(events); i++) await sleep(10);
}

test(
  "the example Dockerfile's ENTRYPOINT under docker stop: tini, then jobguard, the worker hears SIGTERM once, all gone before the 10 s",
  { skip: existsSync(TINI) ? false : `${TINI} is missing (Debian's tini)` },
  async () => {
    const image = dockerfile();
    const entrypoint = image.entrypoint!;
    const at = entrypoint.indexOf("node_modules/.bin/jobguard");
    assert.ok(at > 0, "the ENTRYPOINT starts jobguard behind an init");
    const graceS = Number(image.env.JOBGUARD_GRACE);
    const dir = tempDir();
    const events = join(dir, "events");
    const unit = new Unit();
    // `docker run IMAGE worker...` replaces CMD and keeps ENTRYPOINT. tini is not PID 1
    // here; as a subreaper it still gets the orphans, as PID 1 would.
    const run = runJobguard(
      [...entrypoint.slice(at + 1), fixture("worker.sh")],
      {
        ...image.env,
        ...unit.env,
        TINI_SUBREAPER: "1",
        EVENTS: events,
        ON_TERM: "ignore",
        SPAWN: "doublefork",
      },
      { wrapper: entrypoint.slice(0, at) },
    );
    await ready(events);
    const stop = await stopUnit(run, unit, {
      signal: (image.stopSignal ?? "SIGTERM") as NodeJS.Signals,
      to: "main",
      graceMs: graceS * 1000,
    });
    const exit = await run.exited;
    assert.deepEqual(heard(events), ["TERM"], "tini passed SIGTERM to jobguard alone, jobguard on once");
    assert.equal(exit.code, 124, `tini passes jobguard's exit code on\n${run.stderr()}`);
    assert.match(run.stderr(), /event=started .*deadline=7.5 grace=10 forward=auto forward_sigterm=true/);
    assert.equal(stop.sigkilledJobguard, false, "docker stop had to SIGKILL the container");
    assert.deepEqual(stop.sigkilled, [], "processes were left in the container");
  },
);

test("Kubernetes: a preStop hook's time comes out of the grace; JOBGUARD_GRACE as the whole period is too long", async () => {
  // terminationGracePeriodSeconds 4 and a preStop hook of 1.5 s, scaled down from minutes.
  const periodS = 4;
  const preStopS = 1.5;
  const outcome = async (grace: number) => {
    const dir = tempDir();
    const events = join(dir, "events");
    const unit = new Unit();
    const run = runJobguard(["--", fixture("worker.sh")], {
      ...unit.env,
      JOBGUARD_GRACE: String(grace),
      EVENTS: events,
      ON_TERM: "ignore",
    });
    await ready(events);
    const stop = await stopUnit(run, unit, {
      signal: "SIGTERM",
      to: "main",
      graceMs: periodS * 1000,
      delayMs: preStopS * 1000,
    });
    return { stop, heard: heard(events), exit: await run.exited };
  };

  const wrong = await outcome(periodS);
  assert.equal(
    wrong.stop.sigkilledJobguard,
    true,
    "jobguard's deadline (3 s after SIGTERM) outlasts the pod",
  );
  assert.notEqual(wrong.stop.sigkilled.length, 0);

  const right = await outcome(periodS - preStopS);
  assert.deepEqual(right.heard, ["TERM"]);
  assert.equal(right.exit.code, 124);
  assert.equal(right.stop.sigkilledJobguard, false, "JOBGUARD_GRACE less the preStop hook ends in time");
  assert.ok(right.stop.exitedAfterMs! < periodS * 1000, `exited after ${right.stop.exitedAfterMs} ms`);
  assert.deepEqual(right.stop.sigkilled, []);
});
