import assert from "node:assert/strict";
import { test } from "node:test";
import { buildConfig } from "../../../src/config/config.js";
import { parseArgs, UsageError } from "../../../src/config/options.js";

// Every numeric setting has a range (issue 15, item 3): nothing that overflows
// Node's timers (2^31 - 1 ms), nothing that rounds to 0 ms or makes a busy
// loop, nothing a PostgreSQL integer cannot hold. test/faults/ranges.test.ts
// runs the binary over the values the issue found, for the exit status.

const config = (env: NodeJS.ProcessEnv) => buildConfig(parseArgs(["--", "w"], env), env);
const dj = { DATABASE_URL: "postgres://h/db", JOBGUARD_QUEUE: "delayed_job" };

/** Each value out of range, with the sentence that must name it. */
const OUT_OF_RANGE: [string, NodeJS.ProcessEnv, RegExp][] = [
  [
    "a grace that overflows a timer",
    { JOBGUARD_DEADLINE: "2200000", JOBGUARD_GRACE: "2200010" },
    /^JOBGUARD_GRACE must be at most 2147483 s \(about 24 days, the longest timer Node keeps\), got "2200010"$/,
  ],
  [
    "a deadline that overflows a timer",
    { JOBGUARD_DEADLINE: "2147484" },
    /^JOBGUARD_DEADLINE must be at most 2147483 s/,
  ],
  [
    "a deadline that rounds to 0 ms",
    { JOBGUARD_DEADLINE: "0.0001" },
    /^JOBGUARD_DEADLINE must be at least 0.001 s \(a shorter time rounds to nothing\), got "0.0001"$/,
  ],
  ["a grace that rounds to 0 ms", { JOBGUARD_GRACE: "0.0004" }, /^JOBGUARD_GRACE must be at least 0.001 s/],
  [
    "an escalation time that overflows a timer",
    { JOBGUARD_ESCALATE_BEFORE: "3000000" },
    /^JOBGUARD_ESCALATE_BEFORE must be at most 2147483 s/,
  ],
  [
    "an escalation time that rounds to 0 ms",
    { JOBGUARD_ESCALATE_BEFORE: "0.0001" },
    /^JOBGUARD_ESCALATE_BEFORE must be at least 0.001 s/,
  ],
  [
    "a heartbeat that overflows a timer",
    { ...dj, JOBGUARD_HEARTBEAT: "2200000" },
    /^JOBGUARD_HEARTBEAT must be at most 2147483 s/,
  ],
  [
    "a heartbeat that would commit in a busy loop",
    { ...dj, JOBGUARD_HEARTBEAT: "0.0001" },
    /^JOBGUARD_HEARTBEAT must be at least 0.1 s \(a shorter one commits to the database in a busy loop\), got "0.0001"$/,
  ],
  [
    "a stale-after time beyond a timer",
    { ...dj, JOBGUARD_STALE_AFTER: "9999999" },
    /^JOBGUARD_STALE_AFTER must be at most 2147483 s/,
  ],
  [
    "a default stale-after beyond a timer, from a grace near the limit",
    { ...dj, JOBGUARD_GRACE: "2147480", JOBGUARD_HEARTBEAT: "10" },
    /^the stale-after time that the grace period \(2147480 s, JOBGUARD_GRACE\) and the heartbeat \(10 s, JOBGUARD_HEARTBEAT\) call for \(2147503 s\) is beyond 2147483 s/,
  ],
  [
    "a rescue count beyond a PostgreSQL integer",
    { ...dj, JOBGUARD_MAX_RESCUES: "3000000000" },
    /^JOBGUARD_MAX_RESCUES must be at most 2147483647 \(what the database stores as an integer\), got "3000000000"$/,
  ],
];

for (const [what, env, sentence] of OUT_OF_RANGE) {
  test(`out of range: ${what}`, () => {
    assert.throws(
      () => config(env),
      (error: unknown) => error instanceof UsageError && sentence.test(error.message),
    );
  });
}

test("the edges of the ranges are accepted", () => {
  const c = config({ JOBGUARD_DEADLINE: "0.001", JOBGUARD_GRACE: "2147483" });
  assert.equal(c.deadlineMs, 1);
  assert.equal(c.graceMs, 2_147_483_000);
  const q = config({
    ...dj,
    JOBGUARD_HEARTBEAT: "0.1",
    JOBGUARD_STALE_AFTER: "2147483",
    JOBGUARD_MAX_RESCUES: "2147483647",
  }).queue;
  assert.equal(q?.rescue?.heartbeatMs, 100);
  assert.equal(q?.rescue?.maxRescues, 2_147_483_647);
});
