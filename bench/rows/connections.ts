import { setTimeout as sleep } from "node:timers/promises";
import type { Client } from "../../src/postgres/client.js";
import { connect } from "../../src/db/connect.js";
import { KeptConnection } from "../../src/db/kept-connection.js";
import { benchLease, heartbeat } from "../lib/lease.js";
import { ensureSchema, leaseTables } from "../../src/lease/schema.js";
import { fmt, fmtMs, summarize } from "../lib/common.js";
import { onBenchDatabase } from "../lib/db.js";
import { table, type RowResult, type Sizes, type SummaryLine } from "../lib/report.js";
import { clockTickMs, postmasterOf, serverTicks } from "../lib/server-cpu.js";
import { disableTls, enableTls, usesTls } from "../lib/tls.js";
import { runOnce } from "./release.js";

const TITLE = "Lease connection: kept or per heartbeat";
const MODES = ["keep", "per-heartbeat"] as const;
type Mode = (typeof MODES)[number];

/**
 * Row 7: what JOBGUARD_CONNECTION costs. Simulated dynos renew their leases
 * through jobguard's own KeptConnection (a kept connection, or one opened with TLS
 * for each heartbeat); the row compares server CPU per heartbeat, connections
 * held per dyno, the heartbeat's latency, and the release at the deadline.
 */
export async function connectionsRow(sizes: Sizes): Promise<RowResult> {
  const dynos = sizes.smoke ? 4 : 20;
  const windowSec = sizes.smoke ? 2 : 15;
  const rounds = sizes.smoke ? 1 : 3;
  const releaseRuns = sizes.smoke ? 1 : 8;
  const method =
    `A database of its own on the bench's PostgreSQL, with TLS switched on but in a smoke run (a self-signed certificate made with openssl; ` +
    `jobguard's default sslmode, \`prefer\`, then uses it, as against Heroku Postgres). ${dynos} simulated dynos renew a ` +
    `lease every 1 s (the default is 10 s: per heartbeat the cost is the same) through jobguard's own \`KeptConnection\` and ` +
    `\`heartbeat()\`: kept (\`JOBGUARD_CONNECTION=keep\`: one connection each, opened once), or per heartbeat ` +
    `(\`per-heartbeat\`: a TLS connection opened for the heartbeat and closed after it). ${rounds} rounds of a ` +
    `${windowSec} s window per mode, alternating; per window: server CPU (utime + stime of all the server's processes, ` +
    `reaped backends included) over heartbeats written, jobguard's connections in pg_stat_activity sampled every 100 ms, ` +
    `and each heartbeat's latency as the dyno sees it (connect included). Release latency: as row 5 (deadline 0.5 s, a ` +
    `shell that ignores SIGTERM, from the deadline to \`locks_released\`) on a 10,000-job table with the recommended ` +
    `index, ${releaseRuns} runs per mode, alternating.`;
  return onBenchDatabase({ n: 7, title: TITLE, method }, sizes.smoke, async ({ url, source }) => {
    const client = await connect(url, process.env, { application_name: "jobguard-bench" });
    const notes = [`Database: ${source}.`];
    // Not in a smoke run: that runs on the test suite's server, which other tests use at the same time.
    const tls = sizes.smoke
      ? false
      : await enableTls(client).catch(
          (error: Error) => (
            notes.push(`TLS not switched on (${error.message}): connections are plain.`),
            false
          ),
        );
    try {
      notes.push(`jobguard's connections ${(await usesTls(url)) ? "used TLS" : "were plain"} (pg_stat_ssl).`);
      const postmaster = postmasterOf(
        (await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]!.pid,
      );
      if (postmaster === undefined)
        throw new Error("the PostgreSQL server's processes are not visible on this machine");
      const tables = leaseTables(["bench_connection_leases"]);
      await ensureSchema(client, tables);
      const windows: Record<Mode, Window[]> = { keep: [], "per-heartbeat": [] };
      for (let round = 0; round < rounds; round++) {
        for (const mode of round % 2 ? [...MODES].reverse() : MODES) {
          windows[mode].push(
            await heartbeatWindow(client, url, tables, mode, dynos, windowSec * 1000, postmaster),
          );
        }
      }
      const release = await releaseLatency(client, url, releaseRuns);
      const rows: string[][] = [];
      const summary: SummaryLine[] = [];
      for (const mode of MODES) {
        const w = windows[mode];
        const beats = w.reduce((n, x) => n + x.beats, 0);
        const cpuPerBeat = w.reduce((n, x) => n + x.cpuMs, 0) / beats;
        const held = w.reduce((n, x) => n + x.connections, 0) / w.length / dynos;
        const latency = summarize(w.flatMap((x) => x.latencies));
        const rel = summarize(release[mode]);
        rows.push([
          mode,
          String(beats),
          fmtMs(cpuPerBeat),
          fmt(held, 3),
          `${fmtMs(latency.median)} / ${fmtMs(latency.p99)}`,
          `${fmtMs(rel.median)} / ${fmtMs(rel.p99)} (n=${rel.n})`,
        ]);
        summary.push({
          measure: `Lease connection \`${mode}\`${tls ? " (TLS)" : ""}`,
          result:
            `${fmtMs(cpuPerBeat)} server CPU per heartbeat; ${fmt(held, 3)} connections held per dyno; heartbeat median ${fmtMs(latency.median)}; ` +
            `release at the deadline median ${fmtMs(rel.median)}, p99 ${fmtMs(rel.p99)}; 1,000 dynos at 10 s: ${fmt(cpuPerBeat * 100, 0)} ms CPU/s, ${fmt(held * 1000, 0)} connections`,
          target: "none set",
          verdict: "—",
        });
      }
      const tableText = table(
        [
          "Mode",
          "heartbeats",
          "server CPU per heartbeat",
          "jobguard connections per dyno (mean)",
          "heartbeat latency median / p99",
          "release after the deadline median / p99",
        ],
        rows,
      );
      return { n: 7, title: TITLE, summary, tables: [tableText], notes, misses: [], method };
    } finally {
      if (tls) await disableTls(client).catch(() => {});
      await client.end().catch(() => {});
    }
  });
}

interface Window {
  beats: number;
  cpuMs: number;
  connections: number;
  latencies: number[];
}

async function heartbeatWindow(
  client: Client,
  url: string,
  tables: ReturnType<typeof leaseTables>,
  mode: Mode,
  dynos: number,
  windowMs: number,
  postmaster: number,
): Promise<Window> {
  const databases = Array.from(
    { length: dynos },
    () => new KeptConnection(url, process.env, undefined, mode === "keep"),
  );
  const leases = databases.map((_, i) =>
    benchLease({
      id: `bench-${mode}-${i}`,
      host: `dyno-${i}`,
      dyno: undefined,
      pids: [4, 5],
      sessionTag: `jobguard-bench-${i}`,
    }),
  );
  // Opened and written once before the window, as a running jobguard's would be.
  await Promise.all(databases.map((db, i) => db.use(10_000, (c) => heartbeat(c, tables, leases[i]!))));
  await sleep(1000);
  const latencies: number[] = [];
  let running = true;
  const loops = databases.map(async (db, i) => {
    await sleep(Math.random() * 1000);
    while (running) {
      const t0 = performance.now();
      await db.use(10_000, (c) => heartbeat(c, tables, leases[i]!));
      latencies.push(performance.now() - t0);
      await sleep(Math.max(0, 1000 - (performance.now() - t0)));
    }
  });
  const ticks0 = serverTicks(postmaster);
  const n0 = latencies.length;
  const samples: number[] = [];
  const end = Date.now() + windowMs;
  while (Date.now() < end) {
    const r = await client.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'jobguard' AND datname = current_database()",
    );
    samples.push(r.rows[0]!.n);
    await sleep(100);
  }
  const beats = latencies.length - n0;
  const cpuMs = (serverTicks(postmaster) - ticks0) * clockTickMs();
  running = false;
  await Promise.all(loops);
  for (const db of databases) db.close();
  return {
    beats,
    cpuMs,
    connections: samples.reduce((a, b) => a + b, 0) / samples.length,
    latencies: latencies.slice(n0),
  };
}

async function releaseLatency(client: Client, url: string, runs: number): Promise<Record<Mode, number[]>> {
  await client.query(
    "CREATE TABLE delayed_jobs (id bigserial PRIMARY KEY, priority int DEFAULT 0, attempts int DEFAULT 0, handler text, last_error text, run_at timestamp, locked_at timestamp, failed_at timestamp, locked_by text, queue text, created_at timestamp, updated_at timestamp)",
  );
  await client.query("INSERT INTO delayed_jobs (handler) SELECT 'x' FROM generate_series(1, 10000)");
  await client.query(
    `CREATE INDEX ON delayed_jobs ((substring(locked_by from position('host:' in locked_by)))) WHERE locked_by IS NOT NULL`,
  );
  const out: Record<Mode, number[]> = { keep: [], "per-heartbeat": [] };
  for (let i = 0; i < runs; i++) {
    for (const mode of i % 2 ? [...MODES].reverse() : MODES) {
      const r = await runOnce(url, client, 1 + i * 2 + (mode === "keep" ? 0 : 1), 0.5, [
        "--connection",
        mode,
      ]);
      if ("failure" in r) throw new Error(r.failure);
      out[mode].push(r.sample.total);
    }
  }
  return out;
}
