import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { readPids, waitGone } from "../../tools/processes.js";
import { JOBGUARD } from "../../tools/repo.js";
import { dockerStop, herokuRestart, killLeftovers, OWNED, runJobguard } from "../support/jobguard.js";
import { eventCount, events, files, ready, SHELL_WORKER } from "../support/shell-worker.js";

// Which signals reach the worker, and how often: each platform's way of
// stopping, --forward, the other signals, Ctrl-C, and a SIGTERM at the start.

after(killLeftovers);

test("Heroku restart: the worker sees the platform's SIGTERMs unforwarded, and one fail-safe SIGTERM before the kill", async () => {
  const f = files();
  const run = runJobguard(["--deadline", "2", "--grace", "4", "--", SHELL_WORKER], {
    EVENTS: f.events,
    ON_TERM: "ignore",
    DYNO: "worker.1",
  });
  await ready(f.events);
  const stop = await herokuRestart(run, 4000, 2);
  const exit = await run.exited;
  assert.equal(exit.code, 124);
  assert.equal(stop.sigkilledJobguard, false);
  assert.deepEqual(
    events(f.events).filter((e) => e === "TERM"),
    ["TERM", "TERM", "TERM"],
  );
  assert.match(run.stderr(), /forward_sigterm=false reason=heroku-cedar-signals-every-process/);
  assert.match(run.stderr(), /event=signal signal=SIGTERM forwarded=false repeat=true/);
  assert.match(run.stderr(), /event=escalate signal=SIGTERM reason=failsafe-nothing-forwarded sent=true/);
});

test("docker stop: the worker gets exactly one SIGTERM although jobguard got two", async () => {
  const f = files();
  const run = runJobguard(["--deadline", "2", "--grace", "4", "--", SHELL_WORKER], {
    EVENTS: f.events,
    ON_TERM: "ignore",
  });
  await ready(f.events);
  await dockerStop(run, 4000, 2);
  assert.equal((await run.exited).code, 124);
  assert.deepEqual(
    events(f.events).filter((e) => e === "TERM"),
    ["TERM"],
  );
  assert.match(run.stderr(), /event=signal signal=SIGTERM forwarded=false repeat=true/);
});

test("Heroku Fir dynos are signalled like Kubernetes pods: jobguard forwards", async () => {
  const f = files();
  const run = runJobguard(["--", SHELL_WORKER], { EVENTS: f.events, DYNO: "worker-12a34b56d-e78f9" });
  await ready(f.events);
  await dockerStop(run, 4000);
  assert.equal((await run.exited).code, 0);
  assert.deepEqual(events(f.events), ["READY", "TERM"]);
});

test("--forward never leaves SIGTERM to the platform; --forward always forwards even on Heroku", async () => {
  const never = files();
  const a = runJobguard(["--forward", "never", "--deadline", "0.5", "--grace", "2", "--", SHELL_WORKER], {
    EVENTS: never.events,
  });
  await ready(never.events);
  await dockerStop(a, 2000);
  assert.equal((await a.exited).code, 124);
  assert.deepEqual(events(never.events), ["READY"]);

  const always = files();
  const b = runJobguard(["--", SHELL_WORKER], {
    EVENTS: always.events,
    DYNO: "worker.1",
    JOBGUARD_FORWARD: "always",
  });
  await ready(always.events);
  await dockerStop(b, 2000);
  assert.equal((await b.exited).code, 0);
  assert.deepEqual(events(always.events), ["READY", "TERM"]);
});

test("other signals are relayed each time they arrive", async () => {
  const f = files();
  const run = runJobguard(["--", SHELL_WORKER], { EVENTS: f.events });
  await ready(f.events);
  // One at a time: the shell runs pending traps in signal-number order, not arrival order.
  const sent = ["SIGUSR1", "SIGHUP", "SIGUSR2", "SIGUSR1"] as const;
  for (const [i, signal] of sent.entries()) {
    run.child.kill(signal);
    await eventCount(f.events, i + 2);
  }
  run.child.kill("SIGTERM");
  assert.equal((await run.exited).code, 0);
  assert.deepEqual(events(f.events), ["READY", "USR1", "HUP", "USR2", "USR1", "TERM"]);
});

test("Ctrl-C in a terminal reaches the worker exactly once", async () => {
  const f = files();
  // `script` gives jobguard a real terminal; ^C written to it becomes SIGINT
  // for the terminal's foreground process group. `script` runs the command
  // through $SHELL; `exec` makes that group jobguard alone whatever the shell
  // (dash does not exec a lone command by itself, and would die of the ^C).
  const command = `exec ${process.execPath} ${JOBGUARD} -- ${SHELL_WORKER}`;
  const term = spawn("script", ["-qefc", command, "/dev/null"], {
    env: { ...process.env, ...OWNED, SHELL: "/bin/sh", EVENTS: f.events },
    stdio: ["pipe", "ignore", "ignore"],
  });
  const exited = new Promise<number | null>((done) => term.on("exit", (code) => done(code)));
  await ready(f.events);
  term.stdin.write("\x03");
  assert.equal(await exited, 0);
  assert.deepEqual(events(f.events), ["READY", "INT"]);
});

test("a SIGTERM while the worker is still starting stops it, and nothing is left", async () => {
  for (const delay of [0, 20, 60, 150]) {
    const f = files();
    const run = runJobguard(
      [
        "--deadline",
        "1",
        "--grace",
        "2",
        "--",
        "sh",
        "-c",
        `echo $$ >> ${f.pids}; sleep 0.3; exec ${SHELL_WORKER}`,
      ],
      { PIDS: f.pids },
    );
    await sleep(delay);
    run.child.kill("SIGTERM");
    const exit = await run.exited;
    assert.ok(
      exit.code === 143 || exit.signal === "SIGTERM",
      `after ${delay} ms: ${JSON.stringify(exit)}\n${run.stderr()}`,
    );
    assert.deepEqual(await waitGone(readPids(f.pids), 300), [], `after ${delay} ms`);
  }
});

test("a SIGTERM the moment the worker starts is forwarded, not fatal to jobguard", async () => {
  // The worker signals jobguard as its first act: the signal lands while
  // jobguard is still busy spawning, and must not kill it and orphan the worker.
  for (let i = 0; i < 10; i++) {
    const f = files();
    const worker = `trap 'echo TERM >> ${f.events}; exit 0' TERM; echo $$ >> ${f.pids}; kill -TERM $PPID; while :; do sleep 0.05; done`;
    const run = runJobguard(["--deadline", "2", "--grace", "3", "--", "sh", "-c", worker]);
    const exit = await run.exited;
    assert.deepEqual(
      [exit.code, events(f.events)],
      [0, ["TERM"]],
      `run ${i}: ${JSON.stringify(exit)}\n${run.stderr()}`,
    );
    assert.deepEqual(await waitGone(readPids(f.pids), 300), [], `run ${i}`);
  }
});
