import assert from "node:assert/strict";
import { test } from "node:test";
import { attemptLimit, isTransient } from "../../../src/db/retry.js";

// Which errors another attempt may cure, and the time each attempt gets, in process.

test("transient errors: the network, a restarting server, a silent connection; not a mistake another try repeats", () => {
  for (const code of [
    "ECONNREFUSED",
    "ECONNRESET",
    "ETIMEDOUT",
    "57P01",
    "57P03",
    "53300",
    "40001",
    "40P01",
    "55P03",
    "08006",
    "08001",
  ]) {
    assert.equal(isTransient(Object.assign(new Error("x"), { code })), true, code);
  }
  for (const code of ["08P01", "42601", "42P01", "28P01", "23505"]) {
    assert.equal(isTransient(Object.assign(new Error("x"), { code })), false, code);
  }
  assert.equal(isTransient(new Error("Connection terminated unexpectedly")), true);
  assert.equal(isTransient(new Error("timeout expired")), true);
  assert.equal(isTransient(new Error('relation "jobs" does not exist')), false);
  // An AbortError carries a numeric code: classified, never a TypeError.
  assert.equal(isTransient(new DOMException("This operation was aborted", "AbortError")), false);
  assert.equal(isTransient(undefined), false);
  assert.equal(isTransient(null), false);
  assert.equal(isTransient("a string"), false);
});

test("an attempt gets half the time left, at least a second, never more than is left", () => {
  assert.equal(attemptLimit(5000), 2500);
  assert.equal(attemptLimit(1500), 1000);
  assert.equal(attemptLimit(600), 600);
  assert.equal(attemptLimit(0), 0);
});
