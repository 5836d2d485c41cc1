import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { Connection } from "../../../src/postgres/client.js";
import { connect } from "../../../src/db/connect.js";
import type { Lease } from "../../../src/lease/lease-sql.js";
import { benchLease, heartbeat } from "../../lib/lease.js";
import { leaseTables } from "../../../src/lease/schema.js";
import { JOBGUARD } from "../../../tools/repo.js";
import { cleanEnv, msBetween, now } from "../../lib/common.js";
import { killHard, start } from "../../lib/processes.js";

/** The dynos of row 6 (b), renewing their leases. */
export interface Fleet {
  /** Latencies are kept only while timing is on. */
  timing(on: boolean): void;
  latencies(): number[];
  /** The real jobguard process (not its worker). */
  jobguardPid: number;
  /** What the fleet said, for an error message. */
  said(): string;
  stop(): Promise<void>;
}

/**
 * `dynos` dynos heartbeating into `leaseTable` every `heartbeatSec`: one a real jobguard, the others
 * leases renewed by the bench with jobguard's own heartbeat() over `connections` connections opened
 * as jobguard opens its own, each at a random phase.
 */
export async function startFleet(
  url: string,
  leaseTable: string[],
  dynos: number,
  heartbeatSec: number,
  connections: number,
): Promise<Fleet> {
  const hbMs = heartbeatSec * 1000;
  const tables = leaseTables(leaseTable);
  const jobguard = start(
    [
      process.execPath,
      JOBGUARD,
      "--queue",
      "delayed_job",
      "--database-url",
      url,
      "--heartbeat",
      String(heartbeatSec),
      "--lease-table",
      leaseTable.join("."),
      "--",
      "sleep",
      "100000",
    ],
    { env: cleanEnv({ DYNO: "worker.1" }), stdout: "ignore", stderr: "pipe" },
  );
  const clients: Connection[] = [];
  const timers: NodeJS.Timeout[] = [];
  const times: number[] = [];
  const errors: string[] = [];
  let on = false;
  const stop = async () => {
    for (const t of timers) clearTimeout(t);
    await killHard(jobguard);
    await sleep(100); // heartbeats in flight
    await Promise.all(clients.map((c) => c.end().catch(() => {})));
  };
  try {
    for (let c = 0; c < connections; c++) {
      clients.push(
        await connect(url, process.env, { application_name: "jobguard", options: "-c TimeZone=UTC" }),
      );
    }
  } catch (error) {
    await stop();
    throw error;
  }
  for (let i = 2; i <= dynos; i++) {
    const db = clients[(i - 2) % connections]!;
    const lease = newLease(i);
    const beat = () => {
      const t0 = now();
      heartbeat(db, tables, lease).then(
        () => on && times.push(msBetween(t0, now())),
        (e: unknown) => errors.push(String(e)),
      );
    };
    timers.push(
      setTimeout(() => {
        beat();
        timers.push(setInterval(beat, hbMs));
      }, Math.random() * hbMs),
    );
  }
  return {
    timing: (v) => (on = v),
    latencies: () => times,
    jobguardPid: jobguard.pid,
    said: () => {
      const text = jobguard.stderr?.text() ?? "";
      if (/error|fail/i.test(text))
        return `; a jobguard said: ${text.trim().split("\n").slice(-2).join(" / ").slice(0, 300)}`;
      return errors.length ? `; a heartbeat failed: ${errors[0]}` : "";
    },
    stop,
  };
}

function newLease(i: number): Lease {
  return benchLease({
    id: `lease-${randomBytes(8).toString("hex")}`,
    host: `dyno-${i}`,
    dyno: `worker.${i}`,
    pids: [4, 5, 6, 7],
    sessionTag: `jobguard-${randomBytes(8).toString("hex")}`,
  });
}
