import assert from "node:assert/strict";
import { after, test } from "node:test";
import { fileDatabase } from "../support/db.js";
import { killLeftovers, runCommand } from "../support/jobguard.js";

// `jobguard check` whatever the queue (src/commands/check.ts); each queue's own
// checks are in test/queues/<queue>/check.test.ts.

after(killLeftovers);

const db = fileDatabase();

test("check without a queue says jobguard never touches a database", async () => {
  const { code, out } = await runCommand(["check"], { DATABASE_URL: db.url });
  assert.equal(code, 0);
  assert.match(out, /no queue configured/);
});
