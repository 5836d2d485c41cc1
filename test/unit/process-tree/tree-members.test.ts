import assert from "node:assert/strict";
import { test } from "node:test";
import type { ProcessInfo } from "../../../src/process-tree/proc.js";
import { treeMembers } from "../../../src/process-tree/tree-members.js";
import { markerEnvValue } from "../../../src/process-tree/tree.js";

// Finding a tree in a made-up /proc snapshot, in-process. The real /proc, with
// setsid and double forks, is tested with real processes in test/supervise/tree.test.ts.

const SELF = 1000; // jobguard
const tree = { rootPid: 100, rootStartTime: 5000, marker: "m1" };

/** A process: pid, parent, start time (default: just after the root), state (default running). */
const p = (pid: number, ppid: number, startTime = 5001, state = "S"): ProcessInfo => ({
  pid,
  ppid,
  pgid: 100,
  state,
  startTime,
});

const pids = (members: ProcessInfo[]) => members.map((m) => m.pid).sort((a, b) => a - b);

test("the root and its descendants by parent pid, in any listing order", () => {
  const snapshot = [p(102, 101), p(1, 0, 0), p(101, 100), p(100, SELF, 5000), p(200, 1)];
  assert.deepEqual(pids(treeMembers(tree, snapshot, () => false, SELF)), [100, 101, 102]);
});

test("a re-parented descendant is found by its marker, and its own children with it", () => {
  // 103 left the group and was re-parented to init (a double fork); 104 is its child.
  const marked = new Set([103]);
  const snapshot = [p(100, SELF, 5000), p(103, 1), p(104, 103), p(105, 1)];
  assert.deepEqual(pids(treeMembers(tree, snapshot, (pid) => marked.has(pid), SELF)), [100, 103, 104]);
});

test("a pid older than the root is not of the tree, whatever its parent or marker say", () => {
  // The root's pid reused? No: 100 started before the root did, so it is another process.
  const snapshot = [p(100, SELF, 4000), p(106, 100, 4500), p(107, 1, 4999)];
  assert.deepEqual(
    treeMembers(tree, snapshot, () => true, SELF),
    [],
  );
});

test("jobguard itself is never a member, even carrying an outer jobguard's marker", () => {
  const snapshot = [p(100, SELF, 5000), p(SELF, 1, 5001)];
  assert.deepEqual(pids(treeMembers(tree, snapshot, () => true, SELF)), [100]);
});

test("zombies are not members but still link their descendants to the tree", () => {
  const snapshot = [p(100, SELF, 5000, "Z"), p(108, 100), p(109, 108, 5002, "X")];
  assert.deepEqual(pids(treeMembers(tree, snapshot, () => false, SELF)), [108]);
});

test("no root, no marker: an empty tree", () => {
  assert.deepEqual(
    treeMembers(tree, [p(1, 0, 0), p(200, 1)], () => false, SELF),
    [],
  );
});

test("a nested jobguard keeps the outer markers, so the outer one still finds its tree", () => {
  assert.equal(markerEnvValue(undefined, "m1"), "m1");
  assert.equal(markerEnvValue("outer", "m1"), "outer,m1");
});
