import assert from "node:assert/strict";
import { test } from "node:test";
import { DeadLimit } from "../../../src/lease/prune-history.js";
import { readProcess } from "../../../src/process-tree/proc.js";
import { TreeHistory } from "../../../src/process-tree/tree-history.js";

// The bound on the history of dead processes, in process.

test("a queue without leases keeps the history's dead processes to those that died last", () => {
  const history = new TreeHistory();
  // Pids above pid_max never run: these processes are dead from the start.
  const gone = (pid: number) => ({ pid, ppid: 1, pgid: pid, state: "S", startTime: pid });
  const me = readProcess(process.pid)!;
  history.record([me, ...[1, 2, 3, 4, 5].map((n) => gone(4_200_000 + n))]);
  const limit = new DeadLimit(history, 3);
  limit.prune();
  assert.deepEqual(
    history.all().sort((a, b) => a - b),
    [process.pid, 4_200_003, 4_200_004, 4_200_005],
  );
  history.record([gone(4_200_006), gone(4_200_007)]);
  limit.prune();
  assert.deepEqual(
    history.all().sort((a, b) => a - b),
    [process.pid, 4_200_005, 4_200_006, 4_200_007],
    "the earliest dead go first; the living stay",
  );
});
