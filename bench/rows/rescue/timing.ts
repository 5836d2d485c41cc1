import type { Client } from "../../../src/postgres/client.js";
import type { RescueConfig } from "../../../src/config/config.js";
import type { LeaseTables } from "../../../src/lease/schema.js";
import { sweep, type SweepResult } from "../../../src/lease/sweep.js";
import { delayedJob } from "../../../src/queues/delayed-job/index.js";
import { JOBGUARD } from "../../../tools/repo.js";
import { cleanEnv, msBetween, now } from "../../lib/common.js";
import { start } from "../../lib/processes.js";

// Row 6 (a) times a sweep two ways: jobguard's sweep() on an open connection,
// statement by statement, and `jobguard rescue` from spawn to exit.

/** What sweep() sends, by kind, in the order a sweep sends it. */
export const KINDS: { kind: string; label: string; test: RegExp }[] = [
  { kind: "tx", label: "BEGIN / COMMIT", test: /^(BEGIN|COMMIT|ROLLBACK)$/ },
  { kind: "lock", label: "advisory lock, JIT off for the transaction", test: /pg_try_advisory_xact_lock/ },
  {
    kind: "stale",
    label: "stale leases with their sessions and dead pids (SELECT … FOR UPDATE)",
    test: /^WITH tagged AS/,
  },
  {
    kind: "rescue",
    label: "rescue the locks of every dead lease (UPDATE … RETURNING)",
    test: /dead_claims AS/,
  },
  {
    kind: "indexed",
    label: "is the recommended index there? (pg_index)",
    test: /FROM pg_index/,
  },
  {
    kind: "left",
    label: "which dead leases still hold a lock? (EXISTS)",
    test: /^SELECT dead\.name FROM unnest/,
  },
  { kind: "drop", label: "DELETE the dead leases", test: /^DELETE FROM \S+ WHERE id = ANY/ },
  { kind: "forget", label: "forget the counts of jobs that are gone", test: /NOT EXISTS \(SELECT 1 FROM/ },
];

/** One sweep() and its statements. */
export interface Timed {
  ms: number;
  result: SweepResult;
  /** Per kind of statement: how many, and their total time. */
  byKind: Map<string, { n: number; ms: number }>;
  /** The first statement of each kind, for EXPLAIN. */
  statements: Map<string, { text: string; values?: unknown[] }>;
}

/** jobguard's sweep() of delayed_jobs on an open connection, every statement timed by kind. */
export async function timedSweep(client: Client, tables: LeaseTables, config: RescueConfig): Promise<Timed> {
  const byKind = new Map<string, { n: number; ms: number }>();
  const statements = new Map<string, { text: string; values?: unknown[] }>();
  const timed = {
    query: async (text: string, values?: unknown[]) => {
      const t0 = now();
      try {
        return await client.query(text, values);
      } finally {
        const kind = KINDS.find((k) => k.test.test(text.trim()))?.kind ?? "other";
        if (!statements.has(kind)) statements.set(kind, { text, values });
        const k = byKind.get(kind) ?? { n: 0, ms: 0 };
        k.n++;
        k.ms += msBetween(t0, now());
        byKind.set(kind, k);
      }
    },
  } as unknown as Client;
  const t0 = now();
  const result = await sweep(timed, delayedJob(["delayed_jobs"]).rescue!, tables, config);
  return { ms: msBetween(t0, now()), result, byKind, statements };
}

/** How PostgreSQL plans a statement of this kind from a sweep, on delayed_jobs: its scan nodes, e.g. "Seq Scan". */
export async function planOf(client: Client, t: Timed | undefined, kind: string): Promise<string> {
  const statement = t?.statements.get(kind);
  if (!statement) return "–";
  try {
    const r = await client.query<{ "QUERY PLAN": { Plan: PlanNode }[] }>(
      `EXPLAIN (FORMAT JSON) ${statement.text}`,
      statement.values,
    );
    const found: string[] = [];
    const walk = (node: PlanNode) => {
      if (node["Index Name"]?.startsWith("delayed_jobs")) {
        // Without an index condition the scan reads every entry of the (partial) index.
        found.push(
          `${node["Node Type"]} using ${node["Index Name"]}${node["Index Cond"] ? "" : " with no index condition (every entry read)"}`,
        );
      } else if (node["Relation Name"] === "delayed_jobs") found.push(`${node["Node Type"]} on delayed_jobs`);
      for (const child of node.Plans ?? []) walk(child);
    };
    walk(r.rows[0]!["QUERY PLAN"][0]!.Plan);
    return [...new Set(found)].join(" + ") || "no scan of delayed_jobs";
  } catch (error) {
    return `EXPLAIN failed: ${(error as Error).message}`;
  }
}

interface PlanNode {
  "Node Type": string;
  "Relation Name"?: string;
  "Index Name"?: string;
  "Index Cond"?: string;
  Plans?: PlanNode[];
}

/** `jobguard rescue` with the sweep's settings, from spawn to exit. */
export async function runRescueCli(
  url: string,
  config: RescueConfig,
): Promise<{ ms: number; stdout: string; code: number | null }> {
  const env = cleanEnv({
    JOBGUARD_QUEUE: "delayed_job",
    DATABASE_URL: url,
    JOBGUARD_TABLE: "delayed_jobs",
    JOBGUARD_LEASE_TABLE: config.leaseTable.join("."),
  });
  // No timing: a sweep judges each lease by the timing it was written with.
  const argv = ["rescue"];
  const t0 = now();
  const p = start([process.execPath, JOBGUARD, ...argv], { env, stdout: "pipe", stderr: "pipe" });
  const exit = await p.exit;
  await p.stdout!.wait(/(?!)/, 5_000).catch(() => undefined); // until the stream has ended
  return { ms: msBetween(t0, exit.at), stdout: `${p.stdout!.text()}\n${p.stderr!.text()}`, code: exit.code };
}
