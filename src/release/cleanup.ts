import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import type { Client } from "pg";
import type { QueueConfig } from "../config/config.js";
import type { Logger } from "../log.js";
import type { DeadProcess } from "../process-tree/tree-history.js";
import type { Cleanup } from "../supervise/supervise.js";
import { releaseAfterCrash } from "../rescue/crash.js";
import { Leases } from "../rescue/leases.js";
import { describeDatabase, safeMessage } from "./connect.js";
import { prepareCustomRelease, runCustomRelease } from "./custom-sql.js";
import { beforeDeadline, Database } from "./database.js";
import { releaseDelayedJobs, workerNames } from "./delayed-job.js";
import { terminateSessions } from "./sessions.js";

// Errors worth another try while the grace period lasts: the network, a
// restarting or overloaded server, a lock still held by a session being ended.
const TRANSIENT_CODES = new Set([
  "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EPIPE", "EAI_AGAIN", "ENOTFOUND",
  "57P01", "57P02", "57P03", "53300", "40001", "40P01", "55P03",
]);
const MAX_LISTED = 100;
const LEASE_QUERY_TIMEOUT_MS = 30_000;

/** The release of a dead worker's locks in PostgreSQL, for the supervisor to call at the right moments. */
export function createCleanup(queue: QueueConfig, graceMs: number, env: NodeJS.ProcessEnv, log: Logger): Cleanup {
  // Tag the worker's sessions so they can be found after it is dead; a
  // PGAPPNAME the user chose is theirs to keep, and then nothing is tagged.
  const tag = env.PGAPPNAME ? undefined : `jobguard-${randomBytes(8).toString("hex")}`;
  const database = new Database(queue.databaseUrl, env, async (client) => {
    if (queue.kind === "sql") await prepareCustomRelease(client, queue.releaseSql!);
  });
  // The lease keeps a connection of its own, so a long sweep never stands
  // between a SIGTERM and the release; and a statement time limit, so a
  // connection lost without a word (a network that drops packets) cannot
  // stall its heartbeats for the minutes TCP takes to notice.
  const leases =
    queue.rescue &&
    new Leases(new Database(queue.databaseUrl, env, undefined, Math.max(queue.rescue.heartbeatMs, LEASE_QUERY_TIMEOUT_MS)), queue, tag, env.DYNO, log);
  const safe = (error: unknown) => safeMessage(error, queue.databaseUrl);

  async function releaseOnce(client: Client, dead: DeadProcess[], counted: boolean): Promise<{ count: number; ids: string[]; failed?: number[] }> {
    const ended = tag ? await terminateSessions(client, tag) : [];
    if (ended.length > 0) {
      log.info("sessions_terminated", { tag, sessions: ended.length, backends: ended.map((s) => `${s.pid}:${s.state}`).join(",") });
    }
    if (queue.kind === "sql") {
      // The user's statement cannot tell a dead worker's locks from those of a
      // newer process that took its pid: those pids are left out.
      const pids = dead.filter((d) => d.reusedSince === undefined).map((d) => d.pid);
      return runCustomRelease(client, hostname(), pids, workerNames(hostname(), pids));
    }
    if (dead.length === 0) return { count: 0, ids: [] };
    if (counted && queue.rescue) {
      const { released, failed } = await releaseAfterCrash(client, queue.table, queue.rescue, hostname(), dead);
      return { count: released.length, ids: released.map(String), failed };
    }
    const ids = await releaseDelayedJobs(client, queue.table, hostname(), dead);
    return { count: ids.length, ids: ids.map(String) };
  }

  return {
    childEnv: tag ? { PGAPPNAME: tag } : {},

    start(history) {
      leases?.start(history);
    },

    prepare() {
      leases?.stopSweeping();
      database.get(graceMs).catch((error: unknown) => log.debug("connect_failed", { error: safe(error) }));
    },

    async release(dead, untilMs, crashed) {
      leases?.stop();
      // Only a queue with leases (delayed_job) counts rescues; telling a crash takes up to a second.
      const counted = queue.rescue !== undefined && (await crashed());
      const started = Date.now();
      let lastError: unknown;
      let attempts = 0;
      while (Date.now() < untilMs) {
        attempts++;
        try {
          const { count, ids, failed } = await beforeDeadline(
            database.use(untilMs - Date.now(), (client) => releaseOnce(client, dead, counted)),
            untilMs,
          );
          log.info("locks_released", {
            queue: queue.kind,
            jobs: count,
            ids: listed(ids),
            rescue_counted: failed ? true : undefined,
            failed: failed?.length ? listed(failed) : undefined,
            pids: listed(dead.map((d) => d.pid)),
            ms: Date.now() - started,
          });
          return true;
        } catch (error) {
          lastError = error;
          database.reset();
          if (!isTransient(error)) break;
          log.debug("release_retry", { attempt: attempts, error: safe(error) });
          await sleep(Math.min(100 * attempts, Math.max(0, untilMs - Date.now())));
        }
      }
      // The lease stays behind: once it is stale, another dyno's sweep releases these locks.
      log.error("release_failed", `could not release the worker's locks: ${safe(lastError ?? "no time left")}`, {
        queue: queue.kind,
        database: describeDatabase(queue.databaseUrl),
        attempts,
      });
      return false;
    },

    async finish(timeoutMs) {
      await leases?.drop(timeoutMs);
      database.reset();
    },
  };
}

/** A list for a log line, cut short: a release may concern thousands. */
function listed(items: ReadonlyArray<string | number>): string {
  return items.slice(0, MAX_LISTED).join(",") + (items.length > MAX_LISTED ? ",..." : "");
}

function isTransient(error: unknown): boolean {
  const code = (error as { code?: string } | undefined)?.code;
  // Class 08 is connection trouble, but for 08P01, a protocol violation, which another try repeats.
  if (code && (TRANSIENT_CODES.has(code) || (code.startsWith("08") && code !== "08P01"))) return true;
  const message = error instanceof Error ? error.message : "";
  return /Connection terminated|timeout expired|timed out/i.test(message);
}
