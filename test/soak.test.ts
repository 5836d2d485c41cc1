import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { isAlive } from "../tools/processes.js";
import { REPO_ROOT } from "../tools/repo.js";
import { overlaps, readRuns } from "../scripts/soak/events.js";
import { requireDelayedJob } from "./support/delayed-job.js";
import { killLeftovers, OWNED, tempDir } from "./support/jobguard.js";
import { requireHostnames } from "./support/prerequisites.js";

// The short soak CI runs (`npm run soak` at length: BENCHMARKS.md): three
// dynos with real delayed_job workers under random faults for 40 s, then the
// soak's own checks. A fixed seed makes the same choices each run (the timing
// still varies); the report is the assertion message.

const SOAK = join(REPO_ROOT, "build", "scripts", "soak.js");

let soakPid: number | undefined;
after(() => {
  // A test that failed half-way: the soak tears its fleet down on SIGTERM, killLeftovers takes the rest.
  if (soakPid !== undefined && isAlive(soakPid)) process.kill(soakPid, "SIGTERM");
});
after(killLeftovers);

test(
  "a short soak: every job done, none run by two processes at once, no jobguard past its grace, nothing left running",
  { timeout: 300_000 },
  async (t) => {
    if (!requireDelayedJob(t) || !requireHostnames(t)) return;
    const soak = spawn(
      process.execPath,
      [SOAK, "--duration", "40", "--dynos", "3", "--seed", "14", "--drain", "90"],
      {
        env: { ...process.env, ...OWNED },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    soakPid = soak.pid;
    let out = "";
    soak.stdout.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
    soak.stderr.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
    const code = await new Promise<number | null>((done) => soak.once("exit", done));
    assert.equal(code, 0, out);
    assert.match(out, /^violations: none$/m);
    assert.match(out, /^faults: [1-9]\d* in all$/m, out);
    assert.match(out, /^jobs: (\d+) enqueued, \1 done, /m, out);
  },
);

test("the soak's overlap check: runs of one job by two processes overlap when their spans intersect, not when one ended first", () => {
  const file = join(tempDir(), "job-events");
  writeFileSync(
    file,
    [
      "started a 10 1000", // a: pid 10 killed after its last line at 1400; pid 11 took it after
      "alive a 10 1200",
      "alive a 10 1400",
      "started a 11 1500",
      "finished a 11 2000",
      "started b 20 1000", // b: pid 21 started while pid 20 was still alive
      "alive b 20 1200",
      "started b 21 1300",
      "alive b 20 1400",
      "finished b 20 1600",
      "finished b 21 2000",
      "started c 30 1000", // c: one process ran it twice, one run after the other
      "finished c 30 1100",
      "started c 30 1200",
      "finished c 30 1300",
      "",
    ].join("\n"),
  );
  const runs = readRuns(file);
  assert.equal(runs.length, 6);
  assert.deepEqual(
    runs.map((r) => [r.label, r.pid, r.start, r.last, r.finished]),
    [
      ["a", 10, 1000, 1400, false],
      ["a", 11, 1500, 2000, true],
      ["b", 20, 1000, 1600, true],
      ["b", 21, 1300, 2000, true],
      ["c", 30, 1000, 1100, true],
      ["c", 30, 1200, 1300, true],
    ],
  );
  assert.deepEqual(
    overlaps(runs).map((o) => [o.label, o.a.pid, o.b.pid]),
    [["b", 20, 21]],
  );
});
