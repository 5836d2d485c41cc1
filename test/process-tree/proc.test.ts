import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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

/** What a split of the stat line gives: the fields after the command name's last ')'. */
function splitStat(pid: number) {
  const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { ppid: Number(fields[1]), pgid: Number(fields[2]), startTime: Number(fields[19]) };
}

test("readProcess reads a command name with spaces and parentheses, and every process of the host, as a split would", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "jobguard-proc-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const odd = join(dir, "a) b (c) 1 2");
  symlinkSync("/bin/sleep", odd);
  const child = spawn(odd, ["30"], { stdio: "ignore" });
  t.after(() => child.kill("SIGKILL"));
  await once(child, "spawn");
  const info = readProcess(child.pid!)!;
  assert.deepEqual({ ppid: info.ppid, pgid: info.pgid, startTime: info.startTime }, splitStat(child.pid!));
  assert.equal(info.ppid, process.pid);
  assert.match(info.state, /^[A-Z]$/);
  for (const p of listProcesses()) {
    let expected;
    try {
      expected = splitStat(p.pid);
    } catch {
      continue; // ended since the listing
    }
    // A parent (or group) may change between the two reads; a start time never does.
    assert.equal(p.startTime, expected.startTime, `pid ${p.pid}`);
  }
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
