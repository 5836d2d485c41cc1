import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { withClient } from "../../tools/db.js";
import { isAlive } from "../../tools/processes.js";
import { fileDatabase, getJob, insertJob, newJobsTable } from "../support/db.js";
import { dockerStop, killLeftovers, runJobguard, tempDir } from "../support/jobguard.js";
import { PG_WORKER, lockJobSql, workerReady } from "../support/pg-worker.js";
import { tcpProxy } from "../support/proxy.js";
import { waitFor } from "../support/wait.js";

// Faults on the database side: a URL jobguard cannot use, a database down at
// the release, a connection that goes silent, a database that answers nothing
// for half a minute.

after(killLeftovers);

const db = fileDatabase();

async function jobguardSessions(): Promise<number> {
  return withClient(db.url, async (c) => {
    const result = await c.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'jobguard' AND datname = current_database() AND state = 'idle'",
    );
    return result.rows[0]!.n;
  });
}

// Each: the variable, a URL with a malformed %-escape, the part named, the secret that must not show.
const MALFORMED: [string, string, string, string][] = [
  ["DATABASE_URL", "postgres://app:%zz-hunter2@127.0.0.1/db", "password", "hunter2"],
  ["JOBGUARD_DATABASE_URL", "postgres://app:pw-hunter2@127.0.0.1/db%e9", "database name", "hunter2"],
  ["DATABASE_URL", "postgresql://us%er:hunter2@127.0.0.1/db?sslmode=require", "user name", "hunter2"],
];

for (const [variable, url, part, secret] of MALFORMED) {
  test(`a malformed %-escape in the ${part} is a configuration error: exit 2, nothing started, no secret shown`, async () => {
    const marker = join(tempDir(), "started");
    const run = runJobguard(["--", "touch", marker], { JOBGUARD_QUEUE: "delayed_job", [variable]: url });
    const exit = await run.exited;
    assert.equal(exit.code, 2, run.stderr());
    const first = run.stderr().split("\n")[0]!;
    assert.match(first, new RegExp(`^jobguard: ${variable} has a malformed %-escape in its ${part}`));
    assert.ok(!run.stderr().includes(secret), "a secret was printed");
    assert.ok(!run.stderr().includes(url), "the URL was printed");
    assert.equal(existsSync(marker), false, "the worker was started");
  });
}

test("an unknown sslmode is a configuration error", async () => {
  const url = new URL(db.url);
  url.searchParams.set("sslmode", "sometimes");
  const run = runJobguard(["--", "true"], { JOBGUARD_QUEUE: "delayed_job", DATABASE_URL: url.toString() });
  assert.equal((await run.exited).code, 2);
  assert.match(run.stderr(), /^jobguard: DATABASE_URL: unknown sslmode "sometimes"/);
});

test("the database down at release time: the worker is still killed, one clear error, exit before the grace", async () => {
  const table = await newJobsTable(db.url);
  const id = await insertJob(db.url, { table, handler: "x" });
  const proxy = await tcpProxy(db.url);
  const events = join(tempDir(), "events");
  const run = runJobguard(["--deadline", "1", "--grace", "3", "--", ...PG_WORKER], {
    JOBGUARD_QUEUE: "delayed_job",
    JOBGUARD_TABLE: table,
    JOBGUARD_DATABASE_URL: proxy.url,
    DATABASE_URL: db.url,
    EVENTS: events,
    LOCK_SQL: lockJobSql(table, id),
  });
  const { pid: workerPid } = await workerReady(events);
  proxy.close(); // from now on the database cannot be reached
  const signalledAt = Date.now();
  const stop = await dockerStop(run, 3000);
  const exit = await run.exited;
  assert.equal(exit.code, 125);
  assert.equal(stop.sigkilledJobguard, false);
  assert.ok(exit.at - signalledAt < 3000, `exited ${exit.at - signalledAt} ms after SIGTERM`);
  assert.equal(isAlive(workerPid), false, "the worker survived");
  const failures = run
    .stderr()
    .split("\n")
    .filter((l) => l.includes("event=release_failed"));
  assert.equal(failures.length, 1);
  assert.match(
    failures[0]!,
    /error="could not release the worker's locks: .+" queue=delayed_job database=127\.0\.0\.1:\d+\/\w+ attempts=\d+/,
  );
  assert.ok(!run.stderr().includes(proxy.password), "the password was logged");
  assert.doesNotMatch(run.stderr(), /postgres:\/\//);
  assert.notEqual((await getJob(db.url, id, table))?.locked_by, null, "nothing could have released it");
});

test("the release connection goes silent after SIGTERM: the release moves to a new connection and ends before the grace", async () => {
  const table = await newJobsTable(db.url);
  const id = await insertJob(db.url, { table, handler: "x" });
  const proxy = await tcpProxy(db.url);
  const events = join(tempDir(), "events");
  // The lease keeps its connection, so that the release's is the second one open.
  const run = runJobguard(
    ["--deadline", "4", "--grace", "10", "--log-level", "debug", "--connection", "keep", "--", ...PG_WORKER],
    {
      JOBGUARD_QUEUE: "delayed_job",
      JOBGUARD_TABLE: table,
      JOBGUARD_LEASE_TABLE: `leases_${table}`,
      JOBGUARD_DATABASE_URL: proxy.url,
      DATABASE_URL: db.url, // the worker's own, straight to the database
      EVENTS: events,
      LOCK_SQL: lockJobSql(table, id),
    },
  );
  const { pid: workerPid } = await workerReady(events);
  await waitFor(async () => (await jobguardSessions()) === 1, { what: "the lease's connection" });
  const signalledAt = Date.now();
  const stop = dockerStop(run, 10_000);
  // The release's connection opens at the SIGTERM; once it is ready, every
  // open connection goes silent. New ones still work.
  await waitFor(async () => (await jobguardSessions()) === 2, {
    timeoutMs: 3500,
    intervalMs: 20,
    what: "the release's connection",
  });
  proxy.freeze("open");
  const acceptedBefore = proxy.accepted();

  const platform = await stop;
  const exit = await run.exited;
  assert.equal(platform.sigkilledJobguard, false);
  assert.equal(exit.code, 124, run.stderr());
  assert.ok(exit.at - signalledAt < 10_000, `exited ${exit.at - signalledAt} ms after SIGTERM`);
  assert.equal(isAlive(workerPid), false);
  assert.match(
    run.stderr(),
    /event=release_retry attempt=1 error="no answer from the database within \d+ ms/,
  );
  assert.match(
    run.stderr(),
    new RegExp(`event=locks_released queue=delayed_job jobs=1 ids=${id} .* attempts=[2-9]`),
  );
  assert.ok(proxy.accepted() > acceptedBefore, "no new connection was opened");
  assert.equal((await getJob(db.url, id, table))?.locked_by, null);
  assert.ok(!run.stderr().includes(proxy.password), "the password was logged");
  proxy.close();
});

test("30 s of a silent database under a 0.5 s heartbeat: the worker runs on, no burst of heartbeats after, and a shutdown in silence ends before the grace", async (t) => {
  const table = await newJobsTable(db.url);
  const id = await insertJob(db.url, { table, handler: "x" });
  const leases = `leases_${table}`;
  const proxy = await tcpProxy(db.url);
  t.after(() => proxy.close());
  const events = join(tempDir(), "events");
  const run = runJobguard(
    // Stale-after 45 s: the fence (38 s) stays down through the 30 s of silence.
    ["--heartbeat", "0.5", "--stale-after", "45", "--deadline", "1", "--grace", "6", "--", ...PG_WORKER],
    {
      JOBGUARD_QUEUE: "delayed_job",
      JOBGUARD_TABLE: table,
      JOBGUARD_LEASE_TABLE: leases,
      JOBGUARD_DATABASE_URL: proxy.url,
      DATABASE_URL: db.url,
      EVENTS: events,
      LOCK_SQL: lockJobSql(table, id),
    },
  );
  const { pid: workerPid } = await workerReady(events);
  // Every heartbeat that reaches the database leaves a row here.
  await waitFor(
    async () =>
      withClient(
        db.url,
        async (c) =>
          (await c.query<{ ok: boolean }>("SELECT to_regclass($1) IS NOT NULL AS ok", [leases])).rows[0]!.ok,
      ),
    {
      what: "the lease table",
    },
  );
  await withClient(db.url, (c) =>
    c.query(`CREATE TABLE beats (at timestamptz NOT NULL DEFAULT clock_timestamp());
      CREATE FUNCTION beat() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO beats DEFAULT VALUES; RETURN NULL; END $$;
      CREATE TRIGGER beat AFTER INSERT OR UPDATE ON ${leases} FOR EACH ROW EXECUTE FUNCTION beat();`),
  );
  const beats = async (since: number) =>
    withClient(
      db.url,
      async (c) =>
        (
          await c.query<{ n: number }>("SELECT count(*)::int AS n FROM beats WHERE at > $1", [
            new Date(since),
          ])
        ).rows[0]!.n,
    );
  await waitFor(async () => (await beats(0)) >= 2, { what: "heartbeats" });

  proxy.freeze("all");
  const frozenAt = Date.now();
  // A heartbeat has a quarter of stale-after, at most 10 s, before it gives up on a silent connection.
  await run.waitFor(/event=heartbeat_failed/, 20_000);
  await sleep(30_000 - (Date.now() - frozenAt));
  assert.ok(isAlive(workerPid) && isAlive(run.pid), "the worker or jobguard did not run on");
  assert.equal((await getJob(db.url, id, table))?.locked_by?.endsWith(`pid:${workerPid}`), true);

  proxy.thaw();
  const thawedAt = Date.now();
  await run.waitFor(/event=heartbeat_resumed/, 15_000);
  await sleep(3000);
  // One beat each 0.5 s, and perhaps one a silent connection held: a burst would be one for every beat missed (60).
  const after = await beats(thawedAt);
  const window = (Date.now() - thawedAt) / 500;
  assert.ok(after <= window + 3, `${after} heartbeats in the ${Date.now() - thawedAt} ms after the silence`);

  proxy.freeze("all");
  const signalledAt = Date.now();
  const platform = await dockerStop(run, 6000);
  const exit = await run.exited;
  assert.equal(platform.sigkilledJobguard, false);
  assert.equal(exit.code, 125, run.stderr());
  assert.ok(exit.at - signalledAt < 6000, `exited ${exit.at - signalledAt} ms after SIGTERM`);
  assert.equal(isAlive(workerPid), false, "the worker survived");
  assert.match(run.stderr(), /event=release_failed /);
  assert.ok(!run.stderr().includes(proxy.password), "the password was logged");
  proxy.close();
});
