import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, test } from "node:test";
import { fixture, killLeftovers, OWNED } from "../support/jobguard.js";
import { readPids, waitGone } from "../../tools/processes.js";
import { files, ready, SHELL_WORKER, terms } from "../support/shell-worker.js";

// The release port's `stop`: the database side asks for a shutdown itself (a
// lease that can no longer be renewed, next). It must go as an internal
// error's stop does, without the error: one SIGTERM through the relay unless a
// request to stop reached the worker already, the deadline, the kill, the
// release, and the worker's status or 124. test/fixtures/stop-port.mjs runs
// the real supervisor with a port that calls `stop` and touches no database.

after(killLeftovers);

/** The fixture's jobguard, its stderr so far, and its exit code. */
function stopping(env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, [fixture("stop-port.mjs"), SHELL_WORKER], {
    env: { ...process.env, ...OWNED, DEADLINE: "1", GRACE: "3", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null }>((done) => child.on("exit", (code) => done({ code })));
  return { child, stderr: () => stderr, exited };
}

test("the release port's stop: the worker hears one SIGTERM, stops, and its status is jobguard's", async () => {
  const f = files();
  const run = stopping({ EVENTS: f.events, PIDS: f.pids, STOP_AFTER_MS: "300" });
  const exit = await run.exited;
  assert.equal(exit.code, 0, run.stderr());
  assert.match(
    run.stderr(),
    /^port event=stop\njobguard event=stop reason=lease_lost signal=SIGTERM forwarded=true$/m,
  );
  assert.match(run.stderr(), /^port event=prepare$/m);
  assert.doesNotMatch(run.stderr(), /internal_error|deadline_exceeded/);
  assert.equal(terms(f.events), 1);
  assert.deepEqual(await waitGone(readPids(f.pids), 300), []);
});

test("the release port's stop: a worker that ignores it is killed at the deadline and released, 124 before the grace", async () => {
  const f = files();
  const run = stopping({ EVENTS: f.events, PIDS: f.pids, ON_TERM: "ignore", STOP_AFTER_MS: "300" });
  await ready(f.events);
  const exit = await run.exited;
  assert.equal(exit.code, 124, run.stderr());
  assert.match(run.stderr(), /event=stop reason=lease_lost signal=SIGTERM forwarded=true/);
  assert.match(run.stderr(), /event=deadline_exceeded deadline=1 killed=\d/);
  assert.match(run.stderr(), /^port event=release dead=\d+ counted=false$/m);
  assert.match(run.stderr(), /^port event=finish$/m);
  const shutdownMs = Number(/event=exit code=124 shutdown_ms=(\d+)/.exec(run.stderr())?.[1]);
  assert.ok(shutdownMs >= 900 && shutdownMs < 3000, `exited ${shutdownMs} ms into the shutdown`);
  assert.equal(terms(f.events), 1);
  assert.deepEqual(await waitGone(readPids(f.pids), 300), []);
});

test("the release port's stop after the platform's SIGTERM adds no second SIGTERM", async () => {
  const f = files();
  const run = stopping({
    EVENTS: f.events,
    ON_TERM: "ignore",
    DEADLINE: "3",
    GRACE: "5",
    STOP_AFTER_MS: "1500",
  });
  await ready(f.events);
  run.child.kill("SIGTERM");
  const exit = await run.exited;
  assert.equal(exit.code, 124, run.stderr());
  const lines = run.stderr().split("\n");
  const signalled = lines.findIndex((l) => /event=signal signal=SIGTERM forwarded=true/.test(l));
  const asked = lines.indexOf("port event=stop");
  assert.ok(signalled >= 0 && asked > signalled, `the stop came after the SIGTERM:\n${run.stderr()}`);
  assert.doesNotMatch(run.stderr(), /jobguard event=stop /);
  assert.equal(terms(f.events), 1);
});
