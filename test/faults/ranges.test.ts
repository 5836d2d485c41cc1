import assert from "node:assert/strict";
import { after, test } from "node:test";
import { killLeftovers, runJobguard } from "../support/jobguard.js";

// The values issue 15 found accepted (a timer overflowing to a SIGKILL 17 ms
// after SIGTERM, a heartbeat of 0 ms, a TypeError and exit 125, a count the
// database refuses at the first crash): each is now refused before anything
// starts, with one sentence naming it and exit 2. Every range: test/unit/config/ranges.test.ts.

after(killLeftovers);

const dj = { DATABASE_URL: "postgres://h/db", JOBGUARD_QUEUE: "delayed_job" };

const CASES: [string[], NodeJS.ProcessEnv, RegExp][] = [
  [["--deadline", "2200000", "--grace", "2200010"], {}, /^jobguard: --grace must be at most 2147483 s/],
  [["--heartbeat", "2200000"], dj, /^jobguard: --heartbeat must be at most 2147483 s/],
  [["--heartbeat", "0.0001"], dj, /^jobguard: --heartbeat must be at least 0.1 s/],
  [["--deadline", "0.0001"], {}, /^jobguard: --deadline must be at least 0.001 s/],
  [["--max-rescues", "3000000000"], dj, /^jobguard: --max-rescues must be at most 2147483647/],
];

for (const [args, env, sentence] of CASES) {
  test(`${args.join(" ")}: one sentence, exit 2, nothing started`, async () => {
    const run = runJobguard([...args, "--", "sh", "-c", "echo started >&2"], env);
    const exit = await run.exited;
    assert.equal(exit.code, 2);
    const lines = run.stderr().trim().split("\n");
    assert.match(lines[0]!, sentence);
    assert.deepEqual(lines.slice(1), ["Try 'jobguard --help' for the options."]);
  });
}
