import assert from "node:assert/strict";
import { test } from "node:test";
import { buildConfig } from "../../../src/config/config.js";
import { parseArgs, UsageError } from "../../../src/config/options.js";

// The deadline where none is set follows the grace (README, Configuration), in-process.

const config = (argv: string[], env: NodeJS.ProcessEnv = {}) =>
  buildConfig(parseArgs([...argv, "--", "w"], env), env);

test("the deadline follows the grace: a quarter of it for cleanup, at most 5 s, at least 1 s", () => {
  const cases: [grace: string, deadlineMs: number][] = [
    ["30", 25_000], // Heroku, Kubernetes, ECS, Render: as before
    ["10", 7_500], // docker stop, Compose
    ["5", 3_750], // Fly.io
    ["90", 85_000], // systemd
    ["300", 295_000],
    ["4", 3_000], // from here down the 1 s floor holds
    ["3", 2_000],
    ["2", 1_000],
    ["1", 500], // under 2 s, half the grace
    ["0.5", 250],
  ];
  for (const [grace, deadlineMs] of cases) {
    const c = config(["--grace", grace]);
    assert.equal(c.deadlineMs, deadlineMs, `grace ${grace}`);
    assert.equal(c.graceMs, Number(grace) * 1000);
  }
});

test("the grace alone, from the environment as from the flag, is a valid configuration", () => {
  assert.equal(config([], { JOBGUARD_GRACE: "10" }).deadlineMs, 7_500);
  assert.equal(config([]).deadlineMs, 25_000, "neither set: 30 and 25 as before");
});

test("a deadline that is set wins, and is still checked against the grace", () => {
  assert.equal(config(["--grace", "10", "--deadline", "9"]).deadlineMs, 9_000);
  assert.equal(config(["--deadline", "28"], {}).deadlineMs, 28_000);
  assert.throws(
    () => config(["--grace", "10"], { JOBGUARD_DEADLINE: "25" }),
    (error: unknown) =>
      error instanceof UsageError &&
      /^JOBGUARD_DEADLINE=25 must be shorter than the grace period, --grace=10,/.test(error.message),
  );
});

test("the default escalation time follows the derived deadline: at most half of it", () => {
  assert.equal(config(["--grace", "5"]).escalation.beforeMs, 1_875);
  assert.equal(config(["--grace", "10"]).escalation.beforeMs, 3_750);
  assert.equal(config(["--grace", "30"]).escalation.beforeMs, 5_000);
});
