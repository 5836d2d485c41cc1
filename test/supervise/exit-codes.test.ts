import assert from "node:assert/strict";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { killLeftovers, runJobguard, tempDir } from "../support/jobguard.js";

// jobguard's exit status: the worker's, or one of its own when the worker cannot start.

after(killLeftovers);

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
