import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { after, test } from "node:test";
import { signal, stillOurs } from "../../src/process-tree/signal.js";
import { killLeftovers, OWNED } from "../support/jobguard.js";
import { prerequisite, rootSkipReason } from "../support/prerequisites.js";

// Rule 11 in its one place: only ESRCH means gone, and a child is signalled only while it is ours.

after(killLeftovers);

test("signal: a live process is sent the signal; a child is ours until it is reaped, then no longer", async () => {
  const child = spawn("sleep", ["100"], { env: { ...process.env, ...OWNED }, stdio: "ignore" });
  await new Promise((spawned) => child.once("spawn", spawned));
  assert.equal(stillOurs(child), true);
  const exited = new Promise((reaped) => child.once("exit", reaped));
  assert.deepEqual(signal(child.pid!, "SIGTERM"), { sent: true });
  await exited;
  assert.equal(stillOurs(child), false, "a reaped child's pid may be another process's");
});

test("signal: a pid no process holds is gone (ESRCH)", () => {
  const pidMax = Number(readFileSync("/proc/sys/kernel/pid_max", "utf8"));
  assert.deepEqual(signal(pidMax + 1, "SIGTERM"), { gone: true });
});

test("signal: a process jobguard may not signal is a refusal with its code (EPERM), not gone", (t) => {
  if (!prerequisite(t, "JOBGUARD_REQUIRE_ROOT", rootSkipReason())) return;
  // As nobody, signal this test's own process, which runs as root (not with SIGCONT,
  // which the kernel lets through within a session; SIGWINCH would be ignored anyway).
  const module = new URL("../../src/process-tree/signal.js", import.meta.url).href;
  const script = `import { signal } from ${JSON.stringify(module)};
    process.stdout.write(JSON.stringify(signal(${process.pid}, "SIGWINCH")));`;
  const run = spawnSync(
    "setpriv",
    [
      "--reuid=65534",
      "--regid=65534",
      "--clear-groups",
      process.execPath,
      "--input-type=module",
      "-e",
      script,
    ],
    { encoding: "utf8" },
  );
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual(JSON.parse(run.stdout), { refused: "EPERM" });
});
