import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Fence } from "../../../src/lease/fence.js";

// The fence (src/lease/fence.ts) on real timers with short windows: when it
// fires, and what keeps it down.

/** A fence of `windowMs` and the times (performance.now()) at which it fired. */
function fence(windowMs: number): { fence: Fence; fired: number[] } {
  const fired: number[] = [];
  return { fence: new Fence(windowMs, () => fired.push(performance.now())), fired };
}

test("nothing sent: the fence stays down", async () => {
  const f = fence(50);
  await sleep(150);
  assert.deepEqual(f.fired, []);
});

test("a first write sent and never confirmed: the fence fires once, a window after it was sent", async () => {
  const f = fence(100);
  const sentAt = f.fence.sending();
  await sleep(400);
  assert.equal(f.fired.length, 1);
  assert.ok(f.fired[0]! - sentAt >= 99, `fired ${f.fired[0]! - sentAt} ms after the write`);
});

test("a first write the server refused takes the fence down", async () => {
  const f = fence(100);
  f.fence.sending();
  f.fence.refused();
  await sleep(250);
  assert.deepEqual(f.fired, []);
});

test("renewals confirmed in time keep the fence down; it counts from the renewal before the latest", async () => {
  const f = fence(1000);
  f.fence.confirmed(f.fence.sending());
  let before = 0;
  let latest = 0;
  for (let i = 0; i < 3; i++) {
    await sleep(400);
    before = latest;
    latest = f.fence.sending();
    f.fence.confirmed(latest);
  }
  assert.deepEqual(f.fired, [], "fired while renewals came every 400 ms");
  await sleep(1500);
  assert.equal(f.fired.length, 1);
  // A window after the renewal before the latest: before the latest's window ends.
  assert.ok(
    f.fired[0]! - before >= 999,
    `fired ${f.fired[0]! - before} ms after the renewal before the latest`,
  );
  assert.ok(f.fired[0]! < latest + 1000, "counted from the latest renewal, not the one before");
});

test("a refusal after a confirmed renewal does not take the fence down", async () => {
  const f = fence(100);
  f.fence.confirmed(f.fence.sending());
  f.fence.sending();
  f.fence.refused();
  await sleep(300);
  assert.equal(f.fired.length, 1);
});

test("stopped: the fence never fires", async () => {
  const f = fence(50);
  f.fence.sending();
  f.fence.stop();
  await sleep(150);
  assert.deepEqual(f.fired, []);
});
