import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { fixture, killLeftovers, runJobguard, tempDir } from "../support/jobguard.js";
import { flyToml } from "./read-examples.js";
import { stopUnit, Unit } from "./stops.js";

// A Fly.io Machine's stop (docs/platforms/fly.md): kill_signal (SIGINT by
// default) to the image's command, jobguard, and after kill_timeout (5 s by
// default) the Machine is killed, with every process in it.

after(killLeftovers);

function heard(events: string): string[] {
  return existsSync(events)
    ? readFileSync(events, "utf8")
        .split("\n")
        .filter((e) => e && e !== "READY")
    : [];
}

/** jobguard with `env` over a worker that ignores its stop signal, stopped as Fly.io would. */
async function flyStop(env: Record<string, string>, signal: NodeJS.Signals, killTimeoutS: number) {
  const dir = tempDir();
  const events = join(dir, "events");
  const unit = new Unit();
  const run = runJobguard(["--", fixture("worker.sh")], {
    ...env,
    ...unit.env,
    EVENTS: events,
    ON_TERM: "ignore",
    SPAWN: "setsid",
  });
  await run.waitFor(/event=started/);
  for (let i = 0; i < 500 && !existsSync(events); i++) await sleep(10);
  const stop = await stopUnit(run, unit, { signal, to: "main", graceMs: killTimeoutS * 1000 });
  return { stop, exit: await run.exited, heard: heard(events), run };
}

test("Fly.io's defaults, SIGINT and 5 s, with JOBGUARD_GRACE=5 alone: SIGINT once, killed at 3.75 s, out before the VM is", async () => {
  const { stop, exit, heard: signals, run } = await flyStop({ JOBGUARD_GRACE: "5" }, "SIGINT", 5);
  assert.deepEqual(signals, ["INT"], "the worker hears Fly.io's SIGINT once, through jobguard");
  assert.match(run.stderr(), /event=started .*deadline=3.75 grace=5 /);
  assert.equal(exit.code, 124, run.stderr());
  assert.equal(stop.sigkilledJobguard, false, "Fly.io had to kill jobguard");
  assert.ok(
    stop.exitedAfterMs! >= 3700 && stop.exitedAfterMs! < 5000,
    `exited after ${stop.exitedAfterMs} ms`,
  );
  assert.deepEqual(stop.sigkilled, [], "processes were left for the VM's end");
});

test("the example fly.toml: SIGTERM, kill_timeout equal to JOBGUARD_GRACE; its stop, scaled to 4 s, ends in time", async () => {
  const { top, env } = flyToml();
  assert.equal(top.kill_signal, "SIGTERM");
  assert.equal(typeof top.kill_timeout, "number");
  assert.equal(env.JOBGUARD_GRACE, String(top.kill_timeout));

  const {
    stop,
    exit,
    heard: signals,
    run,
  } = await flyStop({ ...env, JOBGUARD_QUEUE: "", JOBGUARD_GRACE: "4" }, top.kill_signal, 4);
  assert.deepEqual(signals, ["TERM"], "one SIGTERM, forwarded by jobguard");
  assert.equal(exit.code, 124, run.stderr());
  assert.equal(stop.sigkilledJobguard, false);
  assert.ok(stop.exitedAfterMs! < 4000, `exited after ${stop.exitedAfterMs} ms`);
  assert.deepEqual(stop.sigkilled, []);
});
