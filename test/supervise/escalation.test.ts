import assert from "node:assert/strict";
import { after, test } from "node:test";
import { dockerStop, killLeftovers, runJobguard } from "../support/jobguard.js";
import { events, files, ready, SHELL_WORKER } from "../support/shell-worker.js";

// The escalation and the fail-safe (src/supervise/escalate.ts) with the
// stand-in worker, which logs every signal it gets: quick checks of the rules
// that the worker matrix relies on.

after(killLeftovers);

test("--escalate: the signal reaches the worker once, before the deadline kill, and is logged", async () => {
  const file = files().events;
  const run = runJobguard(
    [
      "--escalate",
      "SIGUSR1",
      "--escalate-before",
      "1",
      "--deadline",
      "2",
      "--grace",
      "4",
      "--",
      SHELL_WORKER,
    ],
    { EVENTS: file, ON_TERM: "ignore" },
  );
  await ready(file);
  await dockerStop(run, 4000, 2);
  assert.equal((await run.exited).code, 124);
  assert.deepEqual(events(file), ["READY", "TERM", "USR1"]);
  const log = run.stderr();
  assert.match(log, /event=escalate signal=SIGUSR1 reason=escalate sent=true/);
  assert.ok(log.indexOf("event=escalate") < log.indexOf("event=deadline_exceeded"), log);
  assert.doesNotMatch(log, /failsafe/, "SIGTERM was forwarded: no fail-safe");
});

test("fail-safe: auto on a Cedar-looking $DYNO, but only jobguard signalled: SIGTERM first, then the escalation", async () => {
  const file = files().events;
  const run = runJobguard(
    [
      "--escalate",
      "SIGUSR1",
      "--escalate-before",
      "1",
      "--deadline",
      "2",
      "--grace",
      "4",
      "--",
      SHELL_WORKER,
    ],
    {
      EVENTS: file,
      ON_TERM: "ignore",
      DYNO: "worker.1",
    },
  );
  await ready(file);
  await dockerStop(run, 4000);
  assert.equal((await run.exited).code, 124);
  assert.deepEqual(events(file), ["READY", "TERM", "USR1"]);
  assert.match(run.stderr(), /event=signal signal=SIGTERM forwarded=false\n/);
  assert.match(
    run.stderr(),
    /event=escalate signal=SIGTERM reason=failsafe-nothing-forwarded sent=true\njobguard event=escalate signal=SIGUSR1/,
  );
});

test("a worker that exits at the fail-safe SIGTERM is not sent the escalation", async () => {
  const file = files().events;
  const run = runJobguard(
    [
      "--escalate",
      "SIGUSR1",
      "--escalate-before",
      "1",
      "--deadline",
      "2",
      "--grace",
      "4",
      "--",
      SHELL_WORKER,
    ],
    { EVENTS: file, DYNO: "worker.1" },
  );
  await ready(file);
  await dockerStop(run, 4000);
  // Nothing forwarded and a worker that exits only on a signal: the fail-safe ends it.
  assert.equal((await run.exited).code, 0);
  assert.deepEqual(events(file), ["READY", "TERM"]);
  assert.equal(
    run.stderr().match(/event=escalate/g)?.length,
    1,
    "the fail-safe only: the worker was gone by the escalation",
  );
});

test("Ctrl-C is forwarded even on Cedar, so no fail-safe SIGTERM follows it", async () => {
  const file = files().events;
  const run = runJobguard(["--deadline", "1", "--grace", "3", "--", SHELL_WORKER], {
    EVENTS: file,
    ON_TERM: "ignore",
    DYNO: "worker.1",
  });
  await ready(file);
  process.kill(run.pid, "SIGINT");
  assert.equal((await run.exited).code, 124);
  assert.deepEqual(events(file), ["READY", "INT"]);
  assert.doesNotMatch(run.stderr(), /event=escalate/);
});
