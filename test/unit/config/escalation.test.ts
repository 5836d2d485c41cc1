import assert from "node:assert/strict";
import { test } from "node:test";
import { buildConfig } from "../../../src/config/config.js";
import { parseArgs, usage, UsageError } from "../../../src/config/options.js";

// In-process: the escalation settings are pure parsing, checked without a process.
function config(argv: string[], env: NodeJS.ProcessEnv = {}) {
  return buildConfig(parseArgs([...argv, "--", "worker"], env), env);
}

function usageError(argv: string[], env: NodeJS.ProcessEnv, sentence: RegExp): void {
  assert.throws(
    () => config(argv, env),
    (error: unknown) => error instanceof UsageError && sentence.test(error.message),
  );
}

test("by default nothing escalates; the fail-safe waits 5 s before the deadline, or half a short deadline", () => {
  assert.deepEqual(config([]).escalation, {
    worker: undefined,
    signal: undefined,
    beforeMs: 5000,
    forward: undefined,
  });
  assert.equal(config(["--deadline", "6"]).escalation.beforeMs, 3000);
  assert.equal(config([]).forward, "auto");
});

test("each worker preset fills its defaults", () => {
  const graphile = config(["--worker", "graphile-worker"]);
  assert.equal(graphile.escalation.signal, "SIGINT");
  assert.equal(graphile.forward, "always");
  const rq = config([], { JOBGUARD_WORKER: "rq" });
  assert.equal(rq.escalation.signal, undefined);
  assert.equal(rq.escalation.beforeMs, 8000);
  assert.equal(rq.forward, "auto");
  assert.equal(config([], { JOBGUARD_WORKER: "celery" }).escalation.signal, "SIGQUIT");
  assert.equal(config([], { JOBGUARD_WORKER: "celery" }).forward, "auto");
  const sidekiq = config([], { JOBGUARD_WORKER: "sidekiq", DYNO: "worker.1" });
  assert.equal(sidekiq.escalation.signal, undefined);
  assert.equal(sidekiq.forward, "always");
  assert.equal(sidekiq.forwardSigterm, true);
});

test("what the user sets wins over the preset, and a flag over the variable", () => {
  const c = config(["--escalate", "SIGTERM"], {
    JOBGUARD_WORKER: "celery",
    JOBGUARD_ESCALATE: "SIGUSR1",
    JOBGUARD_ESCALATE_BEFORE: "2.5",
  });
  assert.equal(c.escalation.signal, "SIGTERM");
  assert.equal(c.escalation.beforeMs, 2500);
  assert.equal(
    config(["--escalate", "none"], { JOBGUARD_WORKER: "graphile-worker" }).escalation.signal,
    undefined,
  );
  const sidekiq = config([], { JOBGUARD_WORKER: "sidekiq", JOBGUARD_FORWARD: "auto", DYNO: "worker.1" });
  assert.equal(sidekiq.forward, "auto");
  assert.equal(sidekiq.forwardSigterm, false);
});

test("an empty variable counts as unset", () => {
  assert.equal(
    config([], { JOBGUARD_WORKER: "", JOBGUARD_ESCALATE: "", JOBGUARD_ESCALATE_BEFORE: "" }).escalation
      .signal,
    undefined,
  );
});

test("bad escalation settings are one sentence naming the variable or flag", () => {
  usageError(
    [],
    { JOBGUARD_WORKER: "resque" },
    /^JOBGUARD_WORKER must be one of sidekiq, graphile-worker, rq, celery, got "resque"$/,
  );
  usageError(
    ["--escalate", "SIGKILL"],
    {},
    /^--escalate must be none or one of SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2, SIGABRT, got "SIGKILL"$/,
  );
  usageError([], { JOBGUARD_ESCALATE: "quit" }, /^JOBGUARD_ESCALATE must be none or one of/);
  usageError(
    ["--escalate-before", "soon"],
    {},
    /^--escalate-before must be a positive number of seconds, got "soon"$/,
  );
  usageError(
    ["--worker", "graphile-worker", "--deadline", "8", "--escalate-before", "3"],
    {},
    /^--worker=graphile-worker ignores every signal for 5 s after the first: jobguard's own signals must come at least 6 s after the shutdown begins, not 5 s;/,
  );
  usageError(
    [],
    { JOBGUARD_WORKER: "rq", JOBGUARD_DEADLINE: "12" },
    /^JOBGUARD_WORKER=rq needs 6 s after SIGTERM .*: jobguard's own signals must come at least 8 s after the shutdown begins, not 4 s;/,
  );
  assert.equal(
    config(["--worker", "rq", "--deadline", "12", "--forward", "always"]).escalation.beforeMs,
    8000,
    "no fail-safe, no signal: nothing to time",
  );
  usageError(
    ["--worker", "rq", "--deadline", "8"],
    {},
    /^--worker=rq's escalate-before \(8 s\) must be shorter than the deadline, --deadline=8:/,
  );
  usageError(
    ["--forward", "never", "--escalate-before", "2"],
    {},
    /^--escalate-before is set but nothing is sent before the deadline/,
  );
  usageError(
    ["--escalate-before", "4"],
    { JOBGUARD_GRACE: "5" },
    /^--escalate-before \(4 s\) must be shorter than the deadline, JOBGUARD_DEADLINE \(unset: 3\.75 s, from JOBGUARD_GRACE\):/,
  );
  usageError(
    [],
    { JOBGUARD_DEADLINE: "10", JOBGUARD_ESCALATE_BEFORE: "10" },
    /^JOBGUARD_ESCALATE_BEFORE \(10 s\) must be shorter than the deadline, JOBGUARD_DEADLINE=10:/,
  );
});

test("the usage lists the new options", () => {
  for (const flag of ["--worker NAME", "--escalate SIGNAL", "--escalate-before SECONDS"])
    assert.match(usage(), new RegExp(flag));
});
