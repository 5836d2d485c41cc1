import { readdirSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import type { Client } from "../../../src/postgres/client.js";
import { ensureSchema, leaseTables } from "../../../src/lease/schema.js";
import { fmt, fmtMs, summarize } from "../../lib/common.js";
import { table, type Sizes, type SummaryLine } from "../../lib/report.js";
import { clockTickMs, postmasterOf } from "../../lib/server-cpu.js";
import { startFleet } from "./fleet.js";
import { measureWindow, type WindowSetup } from "./window.js";

/** The lease table the heartbeats write, as small as a real fleet's (not the sweeps' table). */
const HEARTBEAT_LEASES = ["jobguard_heartbeat_leases"];
/** Connections (b) leaves free on a shared server, beside the bench's own. */
export const CONNECTION_MARGIN = 10;

/**
 * Row 6 (b): the database load of `sizes.heartbeatDynos` dynos' heartbeats (one real jobguard, the
 * others simulated), a loaded window against an idle one.
 */
export async function heartbeatLoad(
  client: Client,
  url: string,
  sizes: Sizes,
  notes: string[],
): Promise<{ summary: SummaryLine[]; tables: string[]; dynos: number; cpuAt10: number }> {
  const tables = leaseTables(HEARTBEAT_LEASES);
  await ensureSchema(client, tables);
  const hbMs = sizes.heartbeatSec * 1000;
  const dynos = sizes.heartbeatDynos;
  const measure = `Rescue: heartbeat load of ${dynos} simulated dynos`;

  const backendPid = Number(
    (await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]!.pid,
  );
  const postmaster = postmasterOf(backendPid);
  if (postmaster === undefined)
    notes.push("Server CPU not measured: the PostgreSQL server's processes are not visible on this machine.");
  const walinspect = await client.query("CREATE EXTENSION IF NOT EXISTS pg_walinspect").then(
    () => true,
    () => false,
  );
  const settings = (
    await client.query<{
      fsync: string;
      sync: string;
      max: number;
      reserved: number;
      super: boolean;
      used: number;
    }>(
      `SELECT current_setting('fsync') AS fsync, current_setting('synchronous_commit') AS sync,
            current_setting('max_connections')::int AS max, current_setting('superuser_reserved_connections')::int AS reserved,
            (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS super,
            (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int AS used`,
    )
  ).rows[0]!;
  const spare = settings.max - (settings.super ? 0 : settings.reserved) - settings.used - CONNECTION_MARGIN;
  const connections = Math.min(dynos - 1, spare - 1); // the real jobguard holds one
  if (connections < 1) {
    notes.push(
      `Heartbeats not measured: the server has ${spare + CONNECTION_MARGIN} connection(s) to spare, and the bench leaves ${CONNECTION_MARGIN} to other users.`,
    );
    return {
      summary: [
        { measure, result: "no connections to spare on the server", target: "none set", verdict: "skipped" },
      ],
      tables: [],
      dynos: 0,
      cpuAt10: NaN,
    };
  }
  const checkpointed = await client.query("CHECKPOINT").then(
    () => true,
    () => false,
  );
  const setup: WindowSetup = {
    client,
    tables,
    postmaster,
    walinspect,
    tickMs: clockTickMs(),
    windowMs: sizes.heartbeatWindowSec * 1000,
    pollMs: hbMs / 4,
  };

  // The idle window: nothing of jobguard's connected, only the bench's poll.
  const idle = await measureWindow(setup, [], []);

  const fleet = await startFleet(url, HEARTBEAT_LEASES, dynos, sizes.heartbeatSec, connections);
  try {
    // Until every lease is written, then two more heartbeats for start-up to settle.
    const until = Date.now() + 30_000;
    for (;;) {
      const n = Number(
        (await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${tables.leases}`)).rows[0]!.n,
      );
      if (n >= dynos) break;
      if (Date.now() > until)
        throw new Error(`only ${n} of ${dynos} leases were written in time${fleet.said()}`);
      await sleep(100);
    }
    await sleep(Math.max(1000, 2 * hbMs));
    const backends = (
      await client.query<{ pid: number }>(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'jobguard'",
      )
    ).rows.map((r) => Number(r.pid));
    const processes = readdirSync("/proc").filter((n) => /^\d+$/.test(n)).length;

    fleet.timing(true);
    const load = await measureWindow(setup, backends, [fleet.jobguardPid]);
    fleet.timing(false);

    const rate = load.beats / load.sec;
    const lat = summarize(fleet.latencies());
    const extraCpu = load.cpu - idle.cpu;
    const perBeatCpu = extraCpu / rate;
    const perBeatBackend = load.backendCpu / rate;
    // pg_walinspect gives this database's WAL exactly; else the cluster-wide difference.
    const perBeatWal =
      load.own && load.own.commits > 0 ? load.own.bytes / load.own.commits : (load.wal - idle.wal) / rate;
    const kb = (b: number) => (Number.isNaN(b) ? "–" : `${(b / 1024).toFixed(b < 10240 ? 2 : 1)} KiB`);
    const cpuCell = (ms: number) =>
      Number.isNaN(ms) ? "–" : `${fmt(ms, 1)} ms/s (${fmt(ms / 10, 2)}% of a core)`;
    const how = `1 real jobguard process + ${dynos - 1} simulated with jobguard's heartbeat() over ${connections} connection${connections > 1 ? "s" : ""}`;

    const rows: string[][] = [
      [
        "idle (no jobguard connected)",
        fmt(idle.sec, 1),
        String(idle.beats),
        fmt(idle.beats / idle.sec, 1),
        cpuCell(idle.cpu),
        "–",
        `${kb(idle.wal)}/s`,
        "–",
        fmt(idle.machineBusy, 0) + "%",
      ],
      [
        `${dynos} dynos, heartbeat ${sizes.heartbeatSec} s (${how})`,
        fmt(load.sec, 1),
        String(load.beats),
        fmt(rate, 1),
        cpuCell(load.cpu),
        cpuCell(load.backendCpu),
        `${kb(load.wal)}/s${load.own ? ` (this database's: ${kb(load.own.bytes / load.sec)}/s)` : ""}`,
        `${fmtMs(lat.median)} / ${fmtMs(lat.p99)} (n=${lat.n})`,
        fmt(load.machineBusy, 0) + "%",
      ],
      [
        "difference, per heartbeat",
        "",
        "",
        "",
        Number.isNaN(perBeatCpu) ? "–" : `${fmt(perBeatCpu, 3)} ms`,
        Number.isNaN(perBeatBackend) ? "–" : `${fmt(perBeatBackend, 3)} ms`,
        `${fmt(perBeatWal, 0)} B${load.own ? " (this database's records)" : ""}`,
        "",
        "",
      ],
    ];
    const at10 = dynos / 10; // heartbeats per second of the fleet at the default interval
    const dayMiB = (perBeatWal * at10 * 86400) / 2 ** 20;
    notes.push(
      `Heartbeats: ${how}; server fsync=${settings.fsync}, synchronous_commit=${settings.sync}` +
        `${checkpointed ? "; CHECKPOINT before the idle window" : ""}; heartbeats counted ` +
        (load.own ? `as this database's commits in the WAL (the poll saw ${load.polled})` : "by polling") +
        ". " +
        `At the default 10 s interval, ${dynos} dynos write ${fmt(at10, at10 < 10 ? 1 : 0)} heartbeats/s: ≈ ${fmt(perBeatCpu * at10, 2)} ms of ` +
        `server CPU per second (${fmt((perBeatCpu * at10) / 10, 3)}% of one core; ${fmt(perBeatCpu / 10, 4)} ms per dyno per second), ` +
        `≈ ${fmt(perBeatWal * at10, 0)} B/s of WAL (${fmt(dayMiB, 0)} MiB a day). These are heartbeats on kept connections: with \`JOBGUARD_CONNECTION=keep\` the fleet holds ${dynos} server connections, one per dyno; with the default, \`per-heartbeat\`, each heartbeat opens its own (what that costs: row 7).` +
        (load.own
          ? ` This database's WAL in the loaded window: ${load.own.records} records for ${load.own.commits} commits ` +
            `(${load.own.byType}), ${kb(load.own.fpi)} of it full-page images.`
          : "") +
        (lat.n && lat.n < 100 ? " With fewer than 100 latency samples p99 is the maximum." : ""),
    );
    notes.push(
      `The real jobguard (client side, on this host with ${processes} processes): ` +
        `${fmt(load.jobguardCpu, 1)} ms CPU/s at a ${sizes.heartbeatSec} s heartbeat — jobguard reads /proc ` +
        `to find its worker tree at every heartbeat and every 2 s. The machine's CPUs were ${fmt(idle.machineBusy, 0)}% busy in the ` +
        `idle window and ${fmt(load.machineBusy, 0)}% in the loaded one.`,
    );
    const expected = (dynos * load.sec) / sizes.heartbeatSec;
    if (Math.abs(load.beats - expected) > Math.max(dynos / 2, 0.1 * expected)) {
      notes.push(
        `**Heartbeats counted: ${load.beats} in ${fmt(load.sec, 1)} s; ${dynos} dynos every ${sizes.heartbeatSec} s should write ≈ ${fmt(expected, 0)}.**`,
      );
    }
    const summary: SummaryLine[] = [
      {
        measure,
        result:
          `at ${sizes.heartbeatSec} s: ${fmt(rate, 0)} writes/s, ${extraCpu < 0 ? "−" : "+"}${fmt(Math.abs(extraCpu), 1)} ms server CPU/s over idle ` +
          `(${fmt(perBeatCpu, 3)} ms per heartbeat; the heartbeat backends themselves ${fmt(perBeatBackend, 3)} ms), ` +
          `${fmt(perBeatWal, 0)} B WAL per heartbeat, latency median ${fmtMs(lat.median)} / p99 ${fmtMs(lat.p99)}; ` +
          `at the default 10 s: ${fmt(at10, at10 < 10 ? 1 : 0)} writes/s, ≈ ${fmt(perBeatCpu * at10, 2)} ms CPU/s, ` +
          `${fmt((perBeatWal * at10) / 1024, 2)} KiB WAL/s; ${dynos} connections if kept (row 7: per heartbeat)`,
        target: "none set",
        verdict: "—",
      },
    ];
    return {
      summary,
      tables: [
        table(
          [
            "Window",
            "s",
            "heartbeats",
            "writes/s",
            "server CPU",
            "of which heartbeat backends",
            "WAL",
            "heartbeat latency median / p99",
            "machine CPU busy",
          ],
          rows,
        ),
      ],
      dynos,
      cpuAt10: perBeatCpu * at10,
    };
  } finally {
    await fleet.stop();
  }
}
