import { setTimeout as sleep } from "node:timers/promises";
import type { Client } from "../../../src/postgres/client.js";
import type { LeaseTables } from "../../../src/lease/schema.js";
import { msBetween, now } from "../../lib/common.js";
import { machineTicks, processTicks, serverTicks } from "../../lib/server-cpu.js";

/** What row 6 (b) needs to measure a window. */
export interface WindowSetup {
  client: Client;
  tables: LeaseTables;
  /** The server's postmaster, when the server runs on this machine. */
  postmaster: number | undefined;
  /** Whether pg_walinspect is there to read this database's WAL. */
  walinspect: boolean;
  tickMs: number;
  windowMs: number;
  /** How often the leases' heartbeat_at is polled. */
  pollMs: number;
}

/** This database's share of the WAL between two LSNs. */
export interface OwnWal {
  bytes: number;
  records: number;
  commits: number;
  fpi: number;
  /** Its records by type, for a note. */
  byType: string;
}

/** What one window measured: CPU in ms per second, WAL in bytes per second. */
export interface WindowLoad {
  sec: number;
  /** Heartbeats written: this database's commits in the WAL, else what the poll saw. */
  beats: number;
  polled: number;
  own: OwnWal | undefined;
  /** The whole server, NaN when its processes are not on this machine. */
  cpu: number;
  /** The heartbeat sessions' backends, and the real jobguard processes. */
  backendCpu: number;
  jobguardCpu: number;
  wal: number;
  /** Percent of the machine's CPUs busy. */
  machineBusy: number;
}

/** Measures one window of `windowMs`, `backends` and `jobguards` being the heartbeat backends and jobguard pids. */
export async function measureWindow(
  w: WindowSetup,
  backends: number[],
  jobguards: number[],
): Promise<WindowLoad> {
  const from = await snapshot(w, backends, jobguards);
  const polled = await countBeats(w);
  const to = await snapshot(w, backends, jobguards);
  const sec = msBetween(from.at, to.at) / 1000;
  const bytes = Number(
    (await w.client.query<{ b: string }>("SELECT pg_wal_lsn_diff($2, $1)::bigint AS b", [from.lsn, to.lsn]))
      .rows[0]!.b,
  );
  const own = w.walinspect ? await ownWal(w.client, from.lsn, to.lsn) : undefined;
  const [busy, total] = [to.machine[0] - from.machine[0], to.machine[1] - from.machine[1]];
  return {
    sec,
    beats: own ? own.commits : polled,
    polled,
    own,
    cpu: ((to.serverTicks - from.serverTicks) * w.tickMs) / sec,
    backendCpu: ((to.backendTicks - from.backendTicks) * w.tickMs) / sec,
    jobguardCpu: ((to.jobguardTicks - from.jobguardTicks) * w.tickMs) / sec,
    wal: bytes / sec,
    machineBusy: total > 0 ? (100 * busy) / total : NaN,
  };
}

async function snapshot(w: WindowSetup, backends: number[], jobguards: number[]) {
  const lsn = (await w.client.query<{ lsn: string }>("SELECT pg_current_wal_lsn()::text AS lsn")).rows[0]!
    .lsn;
  return {
    at: now(),
    serverTicks: w.postmaster === undefined ? NaN : serverTicks(w.postmaster),
    backendTicks: processTicks(backends),
    jobguardTicks: processTicks(jobguards),
    machine: machineTicks(),
    lsn,
  };
}

/** Polls the leases' heartbeat_at for the window; returns how many times one changed. */
async function countBeats(w: WindowSetup): Promise<number> {
  const seen = new Map<string, string>();
  let beats = 0;
  const until = Date.now() + w.windowMs;
  while (Date.now() < until) {
    const rows = (
      await w.client.query<{ id: string; at: string }>(
        `SELECT id, heartbeat_at::text AS at FROM ${w.tables.leases}`,
      )
    ).rows;
    for (const r of rows) {
      const before = seen.get(r.id);
      if (before !== undefined && before !== r.at) beats++;
      seen.set(r.id, r.at);
    }
    await sleep(Math.min(w.pollMs, Math.max(0, until - Date.now())));
  }
  return beats;
}

/** The WAL of this database's transactions between two LSNs (pg_walinspect), with its records by type. */
async function ownWal(client: Client, from: string, to: string): Promise<OwnWal | undefined> {
  try {
    const rows = (
      await client.query<{ type: string; bytes: string; records: string; fpi: string }>(
        `WITH r AS (SELECT * FROM pg_get_wal_records_info($1::pg_lsn, $2::pg_lsn)),
            db AS (SELECT '%/' || oid || '/%' AS pattern FROM pg_database WHERE datname = current_database()),
            mine AS (SELECT DISTINCT xid FROM r, db WHERE r.block_ref LIKE db.pattern AND r.xid::text <> '0')
       SELECT resource_manager || ' ' || record_type AS type, sum(record_length) AS bytes, count(*) AS records, sum(fpi_length) AS fpi
         FROM r, db
        WHERE r.xid IN (SELECT xid FROM mine) OR (r.xid::text = '0' AND r.block_ref LIKE db.pattern)
        GROUP BY 1 ORDER BY count(*) DESC`,
        [from, to],
      )
    ).rows;
    const sum = (key: "bytes" | "records" | "fpi") => rows.reduce((total, r) => total + Number(r[key]), 0);
    return {
      bytes: sum("bytes"),
      records: sum("records"),
      fpi: sum("fpi"),
      commits: rows
        .filter((r) => /^Transaction COMMIT/.test(r.type))
        .reduce((n, r) => n + Number(r.records), 0),
      byType: rows
        .map((r) => `${r.type} ${r.records} (${Math.round(Number(r.bytes) / Number(r.records))} B avg)`)
        .join(", "),
    };
  } catch {
    return undefined;
  }
}
