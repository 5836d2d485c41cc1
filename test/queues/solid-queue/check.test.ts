import assert from "node:assert/strict";
import { hostname } from "node:os";
import { after, test } from "node:test";
import { withClient } from "../../../tools/db.js";
import { fileDatabase } from "../../support/db.js";
import { killLeftovers, runCommand } from "../../support/jobguard.js";
import {
  claim,
  createSolidQueueSchema,
  enqueue,
  insertProcess,
  solidQueueEnv,
} from "../../support/solid-queue.js";

// `jobguard check` for Solid Queue: the claims by process, this host's dead
// processes, and claims without a process row.

after(killLeftovers);

const HOST = hostname();
const db = fileDatabase();

test("check lists claims by process, marks this host's dead processes, and exits 1 until they are gone", async () => {
  const schema = "sq_check";
  await createSolidQueueSchema(db.url, schema);
  const jobs = [
    await enqueue(db.url, schema, 1),
    await enqueue(db.url, schema, 1),
    await enqueue(db.url, schema, 1),
  ];
  const dead = await insertProcess(db.url, schema, { pid: 999_999, hostname: HOST });
  const live = await insertProcess(db.url, schema, { pid: process.pid, hostname: HOST });
  const far = await insertProcess(db.url, schema, { pid: 999_999, hostname: "elsewhere" });
  await claim(db.url, schema, jobs[0]!, dead);
  await claim(db.url, schema, jobs[1]!, live);
  await claim(db.url, schema, jobs[2]!, far);
  const check = () => runCommand(["check"], solidQueueEnv(db.url, schema));
  const first = await check();
  assert.equal(first.code, 1, first.out);
  assert.match(
    first.out,
    new RegExp(`^jobguard check: queue=solid_queue database=\\S+ table_prefix=${schema}\\.solid_queue_\\n`),
  );
  assert.match(
    first.out,
    new RegExp(
      `Worker \\S+ host:${HOST} pid:999999: 1 claimed \\(ids ${jobs[0]}\\) since \\S+Z {2}<- no such process on this host`,
    ),
  );
  assert.match(
    first.out,
    new RegExp(`Worker \\S+ host:${HOST} pid:${process.pid}: 1 claimed \\(ids ${jobs[1]}\\) since \\S+Z\\n`),
  );
  assert.match(
    first.out,
    new RegExp(`Worker \\S+ host:elsewhere pid:999999: 1 claimed \\(ids ${jobs[2]}\\) since \\S+Z\\n`),
  );
  assert.doesNotMatch(first.out, /postgres:\/\//);

  await withClient(db.url, (c) =>
    c.query(`DELETE FROM ${schema}.solid_queue_processes WHERE id = $1`, [dead]),
  );
  const orphaned = await check();
  assert.equal(orphaned.code, 1, "a claim without a process row passed");
  assert.match(
    orphaned.out,
    /1 claimed execution\(s\) without a process row: Solid Queue fails them \(ProcessMissingError\)/,
  );

  await withClient(db.url, (c) =>
    c.query(`DELETE FROM ${schema}.solid_queue_claimed_executions WHERE job_id = $1`, [jobs[0]]),
  );
  const clean = await check();
  assert.equal(clean.code, 0, clean.out);
});
