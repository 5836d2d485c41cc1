import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { environmentHas, listProcesses, readProcess } from "../../src/process-tree/proc.js";

// proc.ts reads /proc through one shared buffer: every file must still come
// back whole, however long, and one read must not leak into the next.

/** A sleeping child whose initial environment holds `size` bytes of padding and then `MARK=found`. */
async function childWithEnvironment(size: number) {
  const child = spawn("sleep", ["30"], {
    env: { PADDING: "x".repeat(size), MARK: "found" },
    stdio: "ignore",
  });
  await once(child, "spawn");
  return child;
}

test("readProcess parses this process's /proc/PID/stat as the file says", () => {
  const me = readProcess(process.pid)!;
  const fields = readFileSync(`/proc/${process.pid}/stat`, "latin1").split(") ")[1]!.split(" ");
  assert.equal(me.pid, process.pid);
  assert.equal(me.ppid, process.ppid);
  assert.equal(me.startTime, Number(fields[19]));
});

test("environmentHas finds a variable at the end of an environment longer than any buffer it keeps", async (t) => {
  for (const size of [10, 5_000, 100_000]) {
    const child = await childWithEnvironment(size);
    t.after(() => child.kill("SIGKILL"));
    assert.equal(environmentHas(child.pid!, "MARK", "found"), true, `with ${size} bytes before it`);
    assert.equal(environmentHas(child.pid!, "MARK", "other"), false, `with ${size} bytes before it`);
    // A short file read after a long one ends where it ends.
    assert.equal(readProcess(child.pid!)?.pid, child.pid);
  }
});

test("a process that is gone reads as undefined, and the listing skips it", async () => {
  const child = spawn("true", [], { stdio: "ignore" });
  const pid = child.pid!;
  await once(child, "exit");
  assert.equal(readProcess(pid), undefined);
  assert.equal(environmentHas(pid, "MARK", "found"), false);
  assert.ok(listProcesses().some((p) => p.pid === process.pid));
  assert.ok(!listProcesses().some((p) => p.pid === pid));
});
