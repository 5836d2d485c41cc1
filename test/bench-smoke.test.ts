import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { REPO_ROOT } from "../tools/repo.js";

// The bench (bench/run.ts) in smoke mode: tiny sizes, so that it cannot rot
// unnoticed. Its numbers are not checked, only that every row ran and a
// Markdown table came out, and that BENCHMARKS.md was left alone.

const BENCH = join(REPO_ROOT, "build", "bench", "run.js");
const BENCHMARKS_MD = join(REPO_ROOT, "BENCHMARKS.md");

function fingerprint(file: string): string | undefined {
  return existsSync(file) ? `${statSync(file).mtimeMs}:${readFileSync(file, "utf8").length}` : undefined;
}

test(
  "npm run bench -- --smoke writes a Markdown table with every row, and leaves BENCHMARKS.md alone",
  { timeout: 300_000 },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "jobguard-bench-smoke-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const out = join(dir, "bench.md");
    const before = fingerprint(BENCHMARKS_MD);

    // TEST_DATABASE_URL (set by scripts/test.ts) gives rows 5 and 6 their server.
    const child = spawn(process.execPath, [BENCH, "--smoke", "--out", out], {
      cwd: REPO_ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));

    assert.equal(code, 0, `the smoke bench failed:\n${stderr}`);
    const markdown = readFileSync(out, "utf8");
    assert.equal(stdout, markdown, "stdout and the --out file should be the same report");
    assert.match(markdown, /^\| # \| Measure \| Result \| Target \| Verdict \|$/m);
    assert.match(markdown, /^\| ---: \| --- \| --- \| --- \| --- \|$/m);
    for (const row of [1, 2, 3, 4, 5, 6, 7, 8]) {
      assert.match(
        markdown,
        new RegExp(`^\\| ${row} \\| .+\\|$`, "m"),
        `row ${row} is missing from the summary table`,
      );
    }
    assert.doesNotMatch(markdown, /\| error: /, "a row failed");
    // Row 6 (rescue) runs on the test database like row 5: a sweep and the heartbeats were both measured.
    assert.match(markdown, /^\| 6 \| Rescue: one sweep, .+ \| — \|$/m, "row 6 did not measure a sweep");
    assert.match(
      markdown,
      /^\| 6 \| Rescue: heartbeat load of .+ writes\/s.+ \| — \|$/m,
      "row 6 did not measure the heartbeats",
    );
    // Row 7 measured both connection modes.
    assert.match(
      markdown,
      /^\| 7 \| Lease connection `per-heartbeat`.+ server CPU per heartbeat.+ \| — \|$/m,
      "row 7 did not measure per-heartbeat",
    );
    // Row 8 sampled both connection modes after heartbeats.
    for (const mode of ["keep", "per-heartbeat"])
      assert.match(
        markdown,
        new RegExp(`^\\| 8 \\| Memory after [1-9][\\d,]* heartbeats .+\`${mode}\`.+ MiB = .+ wrapper`, "m"),
        `row 8 did not measure jobguard with the lease connection ${mode} after heartbeats`,
      );
    assert.match(markdown, /^## Machine$/m);
    assert.match(markdown, /Smoke run/);
    assert.equal(fingerprint(BENCHMARKS_MD), before, "a smoke run must not touch BENCHMARKS.md");
  },
);

test("a smoke run refuses to write BENCHMARKS.md", () => {
  const r = spawnSync(process.execPath, [BENCH, "--smoke", "--out", BENCHMARKS_MD], {
    cwd: REPO_ROOT,
    encoding: "utf8",
  });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /must not overwrite BENCHMARKS.md/);
});
