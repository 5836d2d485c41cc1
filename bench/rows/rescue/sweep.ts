import { setTimeout as sleep } from "node:timers/promises";
import type { Client } from "../../../src/postgres/client.js";
import type { RescueConfig } from "../../../src/config/config.js";
import { benchLease, heartbeat } from "../../lib/lease.js";
import { ensureSchema, leaseTables } from "../../../src/lease/schema.js";
import { fillJobs, jobsTableFacts, RECOMMENDED_INDEX, RECOMMENDED_INDEX_NAME } from "../../lib/db.js";
import type { Sizes, SummaryLine } from "../../lib/report.js";
import { LABELS, sweepReport, type Variant } from "./sweep-report.js";
import { planOf, runRescueCli, timedSweep, type Timed } from "./timing.js";

/** The lease table the sweeps read. */
const SWEEP_LEASES = ["jobguard_leases"];

/**
 * Row 6 (a): one sweep over `sizes.rescueLeases` leases and `sizes.releaseRows` jobs, without and with
 * the recommended index; sweep() alone and `jobguard rescue` end to end, and sweeps that find no stale lease.
 */
export async function sweepCost(
  client: Client,
  url: string,
  sizes: Sizes,
  notes: string[],
): Promise<{ summary: SummaryLine[]; tables: string[]; idleMs: Record<Variant, number> }> {
  const tables = leaseTables(SWEEP_LEASES);
  const live = sizes.rescueLeases - sizes.rescueDead;
  const config: RescueConfig = {
    heartbeatMs: Math.min(10, sizes.rescueStaleAfterSec / 2) * 1000,
    staleAfterMs: sizes.rescueStaleAfterSec * 1000,
    fenceMs: sizes.rescueStaleAfterSec * 1000 - 2000,
    replicationLagMs: 2000,
    maxRescues: 3,
    leaseTable: SWEEP_LEASES,
    connection: "keep",
  };

  const setupStart = Date.now();
  await fillJobs(client, sizes.releaseRows);
  // The 1% that row 5's generator locks (for 20 workers of other hosts) becomes the live leases' work.
  await client.query(
    `UPDATE delayed_jobs SET locked_by = format('delayed_job host:live-%s pid:%s', (id / 100) % $1::int + 1, 4 + (id / 100) % 3)
      WHERE locked_by IS NOT NULL`,
    [live],
  );
  await client.query("VACUUM ANALYZE delayed_jobs");
  await ensureSchema(client, tables);
  for (let k = 1; k <= live; k++) {
    await heartbeat(
      client,
      tables,
      benchLease({
        id: `lease-live-${k}`,
        host: `live-${k}`,
        dyno: `worker.${k}`,
        pids: [4, 5, 6],
        sessionTag: `jobguard-live-${k}`,
      }),
    );
  }
  const facts = await jobsTableFacts(client);
  const liveLocks = facts.locked;
  notes.push(
    `Sweeps: delayed_jobs ${facts.size}, ${liveLocks.toLocaleString("en")} jobs locked by the live leases; ` +
      `set up in ${((Date.now() - setupStart) / 1000).toFixed(0)} s.`,
  );

  // A sweep refuses to judge anyone while the server is younger than stale-after.
  const age = Number(
    (
      await client.query<{ s: number }>(
        "SELECT extract(epoch FROM now() - pg_postmaster_start_time())::float8 AS s",
      )
    ).rows[0]!.s,
  );
  if (age < sizes.rescueStaleAfterSec + 1) {
    const wait = sizes.rescueStaleAfterSec + 1 - age;
    notes.push(
      `The server had started ${age.toFixed(1)} s before; the bench waited ${wait.toFixed(1)} s so that a sweep would run.`,
    );
    await sleep(wait * 1000);
  }

  let slot = 0; // which never-rescued jobs the next dead leases hold
  const slots = Math.max(1, Math.floor(sizes.releaseRows / 10));
  const problems: string[] = [];
  let round = 0;
  /** Plants `dead` dead leases with their locks, renews the live ones. */
  const plant = async (dead: number) => {
    round++;
    if (dead > 0) {
      // Written directly rather than by heartbeat(): their last heartbeat must be 10 minutes old.
      await client.query(
        `INSERT INTO ${tables.leases} (id, host, dyno, pids, session_tag, heartbeat_ms, stale_after_ms, started_at, heartbeat_at)
         SELECT 'lease-dead-' || $1::int || '-' || k, 'dead-' || $1::int || '-' || k, 'worker.' || k, ARRAY[4, 5, 6],
                'jobguard-dead-' || $1::int || '-' || k, 10000, 60000, now() - interval '2 hours', now() - interval '10 minutes'
           FROM generate_series(1, $2::int) k`,
        [round, dead],
      );
      await client.query(
        `UPDATE delayed_jobs j SET locked_by = format('delayed_job host:dead-%s-%s pid:%s', $1::int, p.k, 4 + p.i % 3),
                locked_at = (now() AT TIME ZONE 'UTC') - interval '10 minutes'
           FROM (SELECT k, i, (($3::int + k - 1) % $4::int) * 10 + 1 + i AS id
                   FROM generate_series(1, $2::int) k, generate_series(0, $5::int - 1) i) p
          WHERE j.id = p.id`,
        [round, dead, slot, slots, sizes.rescueJobsPerDead],
      );
      slot += dead;
    }
    // One statement for all of them: what heartbeat() would write, without a round trip per lease.
    await client.query(`UPDATE ${tables.leases} SET heartbeat_at = now() WHERE id LIKE 'lease-live-%'`);
  };
  const check = (what: string, dead: number, released: number, removed: number, failed: number) => {
    const want = dead * sizes.rescueJobsPerDead;
    if (released !== want || removed !== dead || failed !== 0) {
      problems.push(
        `${what}: released ${released} job(s) (expected ${want}), removed ${removed} lease(s) (expected ${dead}), marked ${failed} failed`,
      );
    }
  };

  const direct = async (v: Variant, dead: number): Promise<Timed> => {
    await plant(dead);
    const t = await timedSweep(client, tables, config);
    check(
      `sweep() ${LABELS[v]}, ${dead} dead`,
      dead,
      t.result.released.length,
      t.result.leases.length,
      t.result.failed.length,
    );
    if (!t.result.swept) throw new Error(`the sweep did nothing: ${t.result.skipped}`);
    return t;
  };
  const cli = async (v: Variant, dead: number): Promise<number> => {
    await plant(dead);
    const r = await runRescueCli(url, config);
    const m = /(\d+) dead lease\(s\) removed, (\d+) job\(s\) released, (\d+) marked failed/.exec(r.stdout);
    if (!m)
      throw new Error(
        `jobguard rescue said: ${r.stdout.trim().split("\n")[0] || `nothing (exit ${r.code})`}`,
      );
    check(`jobguard rescue ${LABELS[v]}, ${dead} dead`, dead, Number(m[2]), Number(m[1]), Number(m[3]));
    return r.ms;
  };

  const idle: Record<Variant, Timed[]> = { without: [], with: [] };
  const full: Record<Variant, Timed[]> = { without: [], with: [] };
  const cliMs: number[] = [];
  const dead: Record<Variant, number> = { without: sizes.rescueNoIndexDead, with: sizes.rescueDead };

  // delayed_job's own index only: the table was just written, so it is in the page cache.
  await client.query(`DROP INDEX IF EXISTS ${RECOMMENDED_INDEX_NAME}`);
  for (let i = 0; i < sizes.rescueIdleRuns; i++) idle.without.push(await direct("without", 0));
  for (let i = 0; i < sizes.rescueNoIndexRuns; i++) full.without.push(await direct("without", dead.without));
  const plansWithout = {
    rescue: await planOf(client, full.without[0], "rescue"),
    left: await planOf(client, full.without[0], "left"),
  };

  await client.query(RECOMMENDED_INDEX);
  await direct("with", dead.with); // warm-up, discarded
  for (let i = 0; i < sizes.rescueIdleRuns; i++) idle.with.push(await direct("with", 0));
  for (let i = 0; i < Math.max(sizes.rescueRuns, sizes.rescueCliRuns); i++) {
    if (i < sizes.rescueRuns) full.with.push(await direct("with", dead.with));
    if (i < sizes.rescueCliRuns) cliMs.push(await cli("with", dead.with));
  }
  const plansWith = {
    rescue: await planOf(client, full.with[0], "rescue"),
    left: await planOf(client, full.with[0], "left"),
  };

  const stillLive = Number(
    (
      await client.query<{ n: string }>(
        "SELECT count(*) AS n FROM delayed_jobs WHERE locked_by IS NOT NULL AND locked_by LIKE '%host:live-%'",
      )
    ).rows[0]!.n,
  );
  const leftDead = Number(
    (
      await client.query<{ n: string }>(
        `SELECT count(*) AS n FROM ${tables.leases} WHERE id LIKE 'lease-dead-%'`,
      )
    ).rows[0]!.n,
  );
  notes.push(
    stillLive === liveLocks
      ? `Every sweep released exactly its dead leases' jobs; the ${liveLocks.toLocaleString("en")} live leases' locks were all still in place at the end.`
      : `**Live leases' locks: ${liveLocks} before, ${stillLive} after — a sweep released locks of live workers.**`,
  );
  if (leftDead) problems.push(`${leftDead} dead lease(s) were still in the table at the end`);
  for (const p of problems) notes.push(`**${p}.**`);

  const plans = { without: plansWithout, with: plansWith };
  return sweepReport(
    { sizes, idle, full, dead, cliMs, plans, liveLocks, heartbeatMs: config.heartbeatMs },
    notes,
  );
}
