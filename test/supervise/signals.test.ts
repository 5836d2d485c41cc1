import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync, chmodSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { JOBGUARD } from "../../tools/repo.js";
import {
  dockerStop,
  fixture,
  herokuRestart,
  OWNED,
  runJobguard,
  tempDir,
  killLeftovers,
} from "../support/jobguard.js";
import { readPids, waitGone } from "../../tools/processes.js";

after(killLeftovers);

const WORKER = fixture("worker.sh");

function files() {
  const dir = tempDir();
  return { dir, events: join(dir, "events"), pids: join(dir, "pids") };
}

function events(file: string): string[] {
  return existsSync(file) ? readFileSync(file, "utf8").split("\n").filter(Boolean) : [];
}

async function ready(file: string): Promise<void> {
  for (let i = 0; i < 2000 && !events(file).includes("READY"); i++) await sleep(10);
  assert.ok(events(file).includes("READY"), "the worker never got ready");
}

/** Waits until the worker has logged `count` events (generous: the machine may be busy). */
async function eventCount(file: string, count: number): Promise<void> {
  for (let i = 0; i < 2000 && events(file).length < count; i++) await sleep(10);
}

for (const code of [0, 1, 2, 255]) {
  test(`exit code ${code} passes through`, async () => {
    const run = runJobguard(["--", "sh", "-c", `exit ${code}`]);
    assert.equal((await run.exited).code, code);
  });
}

test("a worker killed by SIGTERM gives 143, by SIGKILL 137", async () => {
  assert.equal((await runJobguard(["--", "sh", "-c", "kill -TERM $$"]).exited).code, 143);
  assert.equal((await runJobguard(["--", "sh", "-c", "kill -KILL $$"]).exited).code, 137);
});

test("a command that does not exist gives 127 and one sentence", async () => {
  const run = runJobguard(["--", "no-such-worker-command"]);
  assert.equal((await run.exited).code, 127);
  assert.match(run.stderr(), /^jobguard: command not found: no-such-worker-command\n$/);
});

test("a file that is not executable gives 126", async () => {
  const script = join(tempDir(), "worker");
  writeFileSync(script, "echo hi\n");
  chmodSync(script, 0o644);
  const run = runJobguard(["--", script]);
  assert.equal((await run.exited).code, 126);
  assert.match(run.stderr(), /permission denied: .* is not an executable file/);
});

test("a worker that finishes within the deadline is not killed and its code passes through", async () => {
  const f = files();
  const run = runJobguard(["--deadline", "3", "--grace", "5", "--", WORKER], {
    EVENTS: f.events,
    ON_TERM: "slow",
    TERM_DELAY: "0.3",
  });
  await ready(f.events);
  const stop = await dockerStop(run, 5000);
  const exit = await run.exited;
  assert.equal(exit.code, 0);
  assert.equal(stop.sigkilledJobguard, false);
  assert.doesNotMatch(run.stderr(), /deadline_exceeded/);
  assert.deepEqual(
    events(f.events).filter((e) => e === "TERM"),
    ["TERM"],
  );
});

test("a worker that ignores SIGTERM is killed near the deadline and jobguard is gone before the grace", async () => {
  const f = files();
  const run = runJobguard(["--deadline", "1", "--grace", "3", "--", WORKER], {
    EVENTS: f.events,
    PIDS: f.pids,
    ON_TERM: "ignore",
  });
  await ready(f.events);
  const signalledAt = Date.now();
  const stop = await dockerStop(run, 3000);
  const exit = await run.exited;
  assert.equal(exit.code, 124);
  assert.equal(stop.sigkilledJobguard, false);
  const took = exit.at - signalledAt;
  assert.ok(took >= 900 && took < 2500, `exited ${took} ms after SIGTERM`);
  assert.match(run.stderr(), /event=deadline_exceeded deadline=1 killed=\d/);
  assert.match(run.stderr(), /event=tree_gone/);
  assert.deepEqual(await waitGone(readPids(f.pids), 500), []);
});

test("grandchildren, a setsid'ed and a double-forked descendant are all gone", async () => {
  const f = files();
  const run = runJobguard(["--deadline", "1", "--grace", "3", "--", WORKER], {
    EVENTS: f.events,
    PIDS: f.pids,
    ON_TERM: "ignore",
    SPAWN: "child setsid doublefork",
  });
  await ready(f.events);
  await sleep(200); // the descendants write their pids as they start
  const pids = readPids(f.pids);
  assert.equal(pids.length, 4, `expected the worker and 3 descendants, got ${pids}`);
  await dockerStop(run, 3000);
  assert.equal((await run.exited).code, 124);
  assert.deepEqual(await waitGone(pids, 500), [], "processes of the tree outlived jobguard");
});

test("the worker exits but its children live on: jobguard stops them before it exits", async () => {
  const f = files();
  const run = runJobguard(["--deadline", "1", "--grace", "3", "--", WORKER], {
    PIDS: f.pids,
    SPAWN: "child doublefork",
    EXIT_CODE: "0",
  });
  const exit = await run.exited;
  assert.equal(exit.code, 124, "the stubborn leftovers had to be killed");
  assert.match(run.stderr(), /event=leftovers signal=SIGTERM/);
  const pids = readPids(f.pids);
  assert.equal(pids.length, 3);
  assert.deepEqual(await waitGone(pids, 200), []);
});

test("leftovers that obey SIGTERM go quietly and the worker's code stands", async () => {
  const f = files();
  const run = runJobguard(["--", "sh", "-c", `sleep 1000 & echo $! > ${f.pids}; exit 3`]);
  const exit = await run.exited;
  assert.equal(exit.code, 3);
  assert.deepEqual(await waitGone(readPids(f.pids), 200), []);
});

test("Heroku restart: the worker sees the platform's SIGTERMs unforwarded, and one fail-safe SIGTERM before the kill", async () => {
  const f = files();
  const run = runJobguard(["--deadline", "2", "--grace", "4", "--", WORKER], {
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
  const run = runJobguard(["--deadline", "2", "--grace", "4", "--", WORKER], {
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
  const run = runJobguard(["--", WORKER], { EVENTS: f.events, DYNO: "worker-12a34b56d-e78f9" });
  await ready(f.events);
  await dockerStop(run, 4000);
  assert.equal((await run.exited).code, 0);
  assert.deepEqual(events(f.events), ["READY", "TERM"]);
});

test("--forward never leaves SIGTERM to the platform; --forward always forwards even on Heroku", async () => {
  const never = files();
  const a = runJobguard(["--forward", "never", "--deadline", "0.5", "--grace", "2", "--", WORKER], {
    EVENTS: never.events,
  });
  await ready(never.events);
  await dockerStop(a, 2000);
  assert.equal((await a.exited).code, 124);
  assert.deepEqual(events(never.events), ["READY"]);

  const always = files();
  const b = runJobguard(["--", WORKER], {
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
  const run = runJobguard(["--", WORKER], { EVENTS: f.events });
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
  const command = `exec ${process.execPath} ${JOBGUARD} -- ${WORKER}`;
  const term = spawn("script", ["-qefc", command, "/dev/null"], {
    env: { ...process.env, ...OWNED, SHELL: "/bin/sh", EVENTS: f.events },
    stdio: ["pipe", "ignore", "ignore"],
  });
  const exited = new Promise<number | null>((done) => term.on("exit", (code) => done(code)));
  await ready(f.events);
  term.stdin!.write("\x03");
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
        `echo $$ >> ${f.pids}; sleep 0.3; exec ${WORKER}`,
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

test("log level silent says nothing; debug says more", async () => {
  const quiet = runJobguard(["--log-level", "silent", "--", "true"]);
  assert.equal((await quiet.exited).code, 0);
  assert.equal(quiet.stderr(), "");
  const loud = runJobguard(["--", "true"], { JOBGUARD_LOG_LEVEL: "info" });
  await loud.exited;
  assert.match(loud.stderr(), /^jobguard event=started pid=\d+ child=\d+ deadline=25 grace=30 forward=auto/m);
  assert.match(loud.stderr(), /^jobguard event=exit code=0/m);
});
