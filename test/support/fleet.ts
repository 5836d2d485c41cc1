import assert from "node:assert/strict";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { withClient } from "../../tools/db.js";
import { descendantsOf, isAlive } from "../../tools/processes.js";
import { getJob, insertJob, newJobsTable } from "./db.js";
import { getJobEvents, sleepJobHandler, WORKER_SCRIPT } from "./delayed-job.js";
import { runJobguard, type Run, type RunOptions } from "./jobguard.js";
import { waitFor } from "./wait.js";

// Simulated dynos running a real delayed_job worker under jobguard, against a
// database that a test may cut off, restart or end the sessions of (its own
// server, test/support/own-postgres.ts, or one through a proxy or a pooler).

/**
 * Timing that satisfies the lease contract (stale-after >= grace + 2 x
 * heartbeat + 3 s, + the replication lag of 2 s for a heartbeat of 2 s or
 * less, with 2 s to spare, as FAST in lease.ts): the fence fires 7 s
 * (stale-after - grace - 1 s) after the newest renewal confirmed 2 s before
 * the latest was sent, sweeps run every stale-after / 4 or so.
 */
export const QUICK = ["--deadline", "1", "--grace", "2", "--heartbeat", "0.5", "--stale-after", "10"];
export const QUICK_STALE_MS = 10_000;
/** The longest wait between two sweeps at QUICK (stale-after / 4, with jitter of 20 %). */
export const QUICK_SWEEP_MS = 3000;
/**
 * For the dynos that must stay live through a moment without the database (a
 * server restart, a failover) or behind a pooler, on a loaded 2-core machine:
 * a fence of 9 s, which counts from a renewal confirmed 2 s (the replication
 * lag) before the latest was sent, so about 6 s of silence after the latest.
 * A fence that left 2 s fired there on healthy dynos: a 1.5 s restart took
 * over 3 s to come back, and two slow heartbeats (2 s limit each) did as
 * much. A dyno cut off for longer than the fence stops its worker: that is
 * the contract, not a failure.
 */
export const ROOMY = ["--deadline", "1", "--grace", "2", "--heartbeat", "0.5", "--stale-after", "12"];
export const ROOMY_STALE_MS = 12_000;
export const ROOMY_SWEEP_MS = 3600;
/** What "a few seconds" allows on a loaded 2-core machine: jobguard's start, a sweep's statements. */
export const SLACK_MS = 5000;

/** delayed_job and its leases in `table` of the database at `url` (leases in `leases_<table>`). */
export function fleetEnv(url: string, table: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    JOBGUARD_QUEUE: "delayed_job",
    JOBGUARD_TABLE: table,
    JOBGUARD_LEASE_TABLE: `leases_${table}`,
    DATABASE_URL: url,
    DJ_TABLE: table,
    // As a Rails app's executor does: the worker reconnects after a lost session.
    DJ_RELEASE_CONNECTIONS: "1",
    // Ten failed polls in a row end delayed_job: 5 s of them outlast a restart.
    DJ_SLEEP_DELAY: "0.5",
    ...extra,
  };
}

/** A dyno of its own (host name `name`): jobguard with `timing`, supervising a real delayed_job worker. */
export function workerDyno(
  name: string,
  url: string,
  table: string,
  {
    timing = QUICK,
    env = {},
    run = {},
  }: { timing?: string[]; env?: NodeJS.ProcessEnv; run?: RunOptions } = {},
): Run {
  return runJobguard([...timing, "--", "ruby", WORKER_SCRIPT], fleetEnv(url, table, env), {
    hostname: name,
    ...run,
  });
}

/** A table with one long SleepJob in it (`idle`: it holds no connection while it runs); the job's id. */
export async function tableWithJob(
  url: string,
  label: string,
  { idle = false, seconds = 300 } = {},
): Promise<{ table: string; id: number }> {
  const table = await newJobsTable(url);
  const id = await insertJob(url, { table, handler: sleepJobHandler(seconds, label, { idle }) });
  return { table, id };
}

/** Waits until the job with `label` has started (job_events) and returns the pid of the worker running it. */
export async function jobStarted(url: string, label: string): Promise<number> {
  const started = await waitFor(
    async () => (await getJobEvents(url, label)).find((e) => e.event === "started"),
    { timeoutMs: 30_000, what: `job ${label} to start` },
  );
  return started.pid;
}

/** Waits until the lease of `host` lists `pid` and was renewed after `sinceMs` (the database's clock, in ms). */
export async function leaseRenewed(url: string, table: string, host: string, pid: number, sinceMs = 0) {
  await waitFor(
    () =>
      withClient(
        url,
        async (c) =>
          (
            await c.query(
              `SELECT 1 FROM leases_${table}
                WHERE host = $1 AND $2 = ANY(pids) AND heartbeat_at > to_timestamp($3 / 1000.0)`,
              [host, pid, sinceMs],
            )
          ).rowCount,
      ),
    { timeoutMs: 30_000, what: `${host}'s lease to list pid ${pid} in a heartbeat after the event` },
  );
}

/** The database's clock now, in ms since the epoch (what lease rows are judged by). */
export async function databaseNow(url: string): Promise<number> {
  return withClient(url, async (c) =>
    Number((await c.query<{ ms: string }>("SELECT extract(epoch FROM now()) * 1000 AS ms")).rows[0]!.ms),
  );
}

/** Every process of the dyno (jobguard, its watchdog, the worker) SIGKILLed at once, as in an R15 or a host failure. */
export async function killDyno(run: Run): Promise<void> {
  for (const pid of [run.pid, ...descendantsOf(run.pid)]) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Gone already.
    }
  }
  await run.exited;
}

/** The ids a dyno's sweeps released so far (its `event=swept` lines). */
export function sweptIds(run: Run): string[] {
  return run
    .stderr()
    .split("\n")
    .filter((l) => l.includes("event=swept"))
    .flatMap((l) => /\breleased=(\S*)/.exec(l)?.[1]?.split(",") ?? [])
    .filter(Boolean);
}

/**
 * Watches a live dyno's job for `ms`: it stays locked by `worker` (its
 * delayed_job name), that worker lives, it is the only one that started the
 * job, and no sweeper released it. Polls rather than sleeps, so that the first
 * wrong step fails at once and says which.
 */
export async function assertKeptFor(
  ms: number,
  job: { url: string; table: string; id: number; label: string },
  worker: { pid: number; name: string },
  sweepers: Run[],
): Promise<void> {
  const until = Date.now() + ms;
  const logs = () => sweepers.map((s) => s.stderr()).join("---\n");
  while (Date.now() < until) {
    const row = await getJob(job.url, job.id, job.table);
    assert.equal(
      row?.locked_by,
      worker.name,
      `the live worker's job was released; the dynos' logs:\n${logs()}`,
    );
    assert.ok(isAlive(worker.pid), `the live worker was stopped; the dynos' logs:\n${logs()}`);
    for (const sweeper of sweepers)
      assert.ok(
        !sweptIds(sweeper).includes(String(job.id)),
        `a sweep released a live job:\n${sweeper.stderr()}`,
      );
    await new Promise((done) => setTimeout(done, 200));
  }
  const starts = (await getJobEvents(job.url, job.label)).filter((e) => e.event === "started");
  assert.deepEqual(
    starts.map((e) => e.pid),
    [worker.pid],
    "the job started more than once",
  );
}

/**
 * The database sessions a process holds open over TCP, as the client ports of
 * its sockets (pg_stat_activity's client_port), read from /proc.
 */
export function clientPortsOf(pid: number): number[] {
  const inodes = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      const link = readlinkSync(`/proc/${pid}/fd/${fd}`, { encoding: "utf8" });
      const m = /^socket:\[(\d+)\]$/.exec(link);
      if (m) inodes.add(m[1]!);
    }
  } catch {
    return []; // gone
  }
  const ports: number[] = [];
  for (const file of ["tcp", "tcp6"]) {
    let table = "";
    try {
      table = readFileSync(`/proc/${pid}/net/${file}`, "latin1");
    } catch {
      continue;
    }
    for (const line of table.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      // local_address is hex ip:port; field 9 is the socket's inode; state 01 is ESTABLISHED.
      if (fields.length > 9 && fields[3] === "01" && inodes.has(fields[9]!))
        ports.push(parseInt(fields[1]!.split(":")[1]!, 16));
    }
  }
  return ports;
}

/** How many sessions of the server at `url` belong to the process `pid`. */
export async function sessionsOf(url: string, pid: number): Promise<number> {
  const ports = clientPortsOf(pid);
  if (ports.length === 0) return 0;
  return withClient(
    url,
    async (c) =>
      (
        await c.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE client_port = ANY($1::int[]) AND pid <> pg_backend_pid()",
          [ports],
        )
      ).rows[0]!.n,
  );
}
