import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { now } from "../../../src/clock.js";
import { Fence } from "../../../src/lease/fence.js";

// The fence (src/lease/fence.ts) on real timers with short windows and lags:
// when it fires, and what keeps it down.

/** How late a timer may fire here and still count as on time (a loaded machine). */
const LATE_MS = 150;

/** A fence of `windowMs` allowing a replication lag of `lagMs`, and the times (clock.ts's now()) at which it fired. */
function fence(windowMs: number, lagMs = 100): { fence: Fence; fired: number[] } {
  const fired: number[] = [];
  return { fence: new Fence(windowMs, lagMs, () => fired.push(now())), fired };
}

/** One renewal sent and confirmed at once: its send time, and the moments just before and after its confirmation. */
function renew(f: Fence): { sentAt: number; confirmedBefore: number; confirmedAfter: number } {
  const sentAt = f.sending();
  const confirmedBefore = now();
  f.confirmed(sentAt);
  return { sentAt, confirmedBefore, confirmedAfter: now() };
}

/** The newest of `renewals` that `is`. */
function newest<T>(renewals: T[], is: (r: T) => boolean): T {
  const found = renewals.filter(is).at(-1);
  assert.ok(found, "no renewal matches");
  return found;
}

/** Asserts that the fence fired once, `windowMs` after `from` (not before, and not later than a late timer). */
function firedAfter(fired: number[], from: number, windowMs: number, what: string): void {
  assert.equal(fired.length, 1, `fired ${fired.length} times`);
  const after = fired[0]! - from;
  assert.ok(after >= windowMs - 1, `fired ${after} ms after ${what}, before the window of ${windowMs} ms`);
  assert.ok(after < windowMs + LATE_MS, `fired ${after} ms after ${what}: counted from a later renewal`);
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
  firedAfter(f.fired, sentAt, 100, "the write");
});

test("a first write the server refused takes the fence down", async () => {
  const f = fence(100);
  f.fence.sending();
  f.fence.refused();
  await sleep(250);
  assert.deepEqual(f.fired, []);
});

test("heartbeats longer than the lag: renewals in time keep the fence down; it counts from the renewal before the latest", async () => {
  const f = fence(1000, 100);
  renew(f.fence);
  let before = 0;
  let latest = 0;
  for (let i = 0; i < 3; i++) {
    await sleep(400);
    before = latest;
    latest = renew(f.fence).sentAt;
  }
  assert.deepEqual(f.fired, [], "fired while renewals came every 400 ms");
  await sleep(1500);
  // A window after the renewal before the latest: before the latest's window ends.
  firedAfter(f.fired, before, 1000, "the renewal before the latest");
  assert.ok(f.fired[0]! < latest + 1000, "counted from the latest renewal, not the one before");
});

test("heartbeats shorter than the lag: it counts from the newest renewal confirmed a lag before the latest was sent", async () => {
  const lag = 300;
  const f = fence(1000, lag);
  const renewals = [renew(f.fence)];
  for (let i = 0; i < 20; i++) {
    await sleep(50);
    renewals.push(renew(f.fence));
  }
  assert.deepEqual(f.fired, [], "fired while renewals came every 50 ms");
  const latest = renewals.at(-1)!;
  // The newest renewal surely confirmed a lag before the latest was sent, and
  // the oldest that may have been: the fence counts from one of the two.
  const surely = newest(renewals, (r) => r.confirmedAfter <= latest.sentAt - lag);
  const maybe = newest(renewals, (r) => r.confirmedBefore <= latest.sentAt - lag);
  await sleep(1500);
  assert.equal(f.fired.length, 1);
  const after = f.fired[0]! - surely.sentAt;
  assert.ok(after >= 999, `fired ${after} ms after a renewal it may count from, before the window`);
  const late = f.fired[0]! - maybe.sentAt;
  assert.ok(
    late < 1000 + LATE_MS,
    `fired ${late} ms after the newest renewal confirmed a lag before the latest`,
  );
  // Not from the renewal before the latest, as with long heartbeats: a failover may have lost it.
  const before = renewals.at(-2)!.sentAt;
  assert.ok(
    f.fired[0]! < before + 1000 - lag + 100,
    `fired ${f.fired[0]! - before} ms after the renewal before the latest`,
  );
});

test("the first renewals, none yet a lag older than the latest: it counts from the first one sent", async () => {
  const f = fence(600, 1000);
  const first = renew(f.fence).sentAt;
  for (let i = 0; i < 4; i++) {
    await sleep(100);
    renew(f.fence);
  }
  await sleep(800);
  firedAfter(f.fired, first, 600, "the first renewal");
});

test("a first write that timed out, then renewals confirmed: it still counts from the write that timed out", async () => {
  const f = fence(600, 1000);
  const timedOut = f.fence.sending();
  await sleep(100);
  renew(f.fence);
  await sleep(100);
  renew(f.fence);
  await sleep(800);
  firedAfter(f.fired, timedOut, 600, "the write that timed out");
});

test("a later write that timed out moves nothing: it counts from a confirmed renewal", async () => {
  const f = fence(800, 100);
  const confirmed = renew(f.fence).sentAt;
  await sleep(200);
  f.fence.sending(); // timed out: no confirmation
  await sleep(200);
  renew(f.fence); // the retry
  await sleep(1200);
  firedAfter(f.fired, confirmed, 800, "the renewal before the one that timed out");
});

test("a retry after failed beats, heartbeats shorter than the lag: it counts from the last renewal before the failures", async () => {
  const lag = 200;
  const f = fence(1000, lag);
  let last = renew(f.fence);
  for (let i = 0; i < 8; i++) {
    await sleep(30);
    last = renew(f.fence);
  }
  // Beats fail for longer than the lag (nothing confirmed), then one retry succeeds.
  await sleep(300);
  f.fence.sending();
  await sleep(50);
  renew(f.fence);
  await sleep(1500);
  firedAfter(f.fired, last.sentAt, 1000, "the last renewal before the failures");
});

test("confirmations faster than the fence keeps: it counts from one of them, never from a later one", async () => {
  const f = fence(800, 200);
  const first = renew(f.fence).sentAt;
  let flood = first;
  for (let i = 0; i < 500; i++) flood = renew(f.fence).sentAt;
  await sleep(300);
  renew(f.fence);
  await sleep(1200);
  assert.equal(f.fired.length, 1);
  assert.ok(
    f.fired[0]! - flood >= 799,
    `fired ${f.fired[0]! - flood} ms after the flood's last renewal, before the window`,
  );
  assert.ok(f.fired[0]! - first < 800 + LATE_MS, "counted from a renewal after the flood");
});

test("a refusal after a confirmed renewal does not take the fence down", async () => {
  const f = fence(100);
  renew(f.fence);
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
