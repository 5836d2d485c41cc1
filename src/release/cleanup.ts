import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import type { Client } from "pg";
import type { QueueConfig } from "../config/config.js";
import type { Logger } from "../log.js";
import type { Cleanup } from "../supervise/supervise.js";
import { connect, describeDatabase, safeMessage } from "./connect.js";
import { prepareCustomRelease, runCustomRelease } from "./custom-sql.js";
import { releaseDelayedJobs, workerNames } from "./delayed-job.js";
import { terminateSessions } from "./sessions.js";

// Errors worth another try while the grace period lasts: the network, a
// restarting or overloaded server, a lock still held by a session being ended.
const TRANSIENT_CODES = new Set([
  "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EPIPE", "EAI_AGAIN", "ENOTFOUND",
  "57P01", "57P02", "57P03", "53300", "40001", "40P01", "55P03",
]);
const MAX_IDS_LOGGED = 100;

/** The release of a dead worker's locks in PostgreSQL, for the supervisor to call at the right moments. */
export function createCleanup(queue: QueueConfig, graceMs: number, env: NodeJS.ProcessEnv, log: Logger): Cleanup {
  // Tag the worker's sessions so they can be found after it is dead; a
  // PGAPPNAME the user chose is theirs to keep, and then nothing is tagged.
  const tag = env.PGAPPNAME ? undefined : `jobguard-${randomBytes(8).toString("hex")}`;
  let session: Promise<Client> | undefined;

  function open(timeoutMs: number): Promise<Client> {
    session = (async () => {
      const client = await connect(queue.databaseUrl, env, {
        application_name: "jobguard",
        connectionTimeoutMillis: Math.max(1, Math.round(timeoutMs)),
      });
      // An idle connection may drop while the worker finishes its job: reopen it at release time.
      client.on("error", () => (session = undefined));
      if (queue.kind === "sql") await prepareCustomRelease(client, queue.releaseSql!);
      return client;
    })();
    return session;
  }

  async function releaseOnce(client: Client, pids: number[]): Promise<{ count: number; ids: string[] }> {
    const ended = tag ? await terminateSessions(client, tag) : [];
    if (ended.length > 0) {
      log.info("sessions_terminated", { tag, sessions: ended.length, backends: ended.map((s) => `${s.pid}:${s.state}`).join(",") });
    }
    const names = workerNames(hostname(), pids);
    if (queue.kind === "sql") return runCustomRelease(client, hostname(), pids, names);
    const ids = pids.length ? await releaseDelayedJobs(client, queue.table, names) : [];
    return { count: ids.length, ids: ids.map(String) };
  }

  return {
    childEnv: tag ? { PGAPPNAME: tag } : {},

    prepare() {
      open(graceMs).catch((error: unknown) => {
        session = undefined;
        log.debug("connect_failed", { error: safeMessage(error, queue.databaseUrl) });
      });
    },

    async release(pids, untilMs) {
      const started = Date.now();
      let lastError: unknown;
      let attempts = 0;
      while (Date.now() < untilMs) {
        attempts++;
        try {
          const client = await beforeDeadline(session ?? open(untilMs - Date.now()), untilMs);
          const { count, ids } = await beforeDeadline(releaseOnce(client, pids), untilMs);
          log.info("locks_released", {
            queue: queue.kind,
            jobs: count,
            ids: ids.slice(0, MAX_IDS_LOGGED).join(",") + (ids.length > MAX_IDS_LOGGED ? ",..." : ""),
            pids: pids.join(","),
            ms: Date.now() - started,
          });
          return true;
        } catch (error) {
          lastError = error;
          void session?.then((c) => c.end()).catch(() => {});
          session = undefined;
          if (!isTransient(error)) break;
          log.debug("release_retry", { attempt: attempts, error: safeMessage(error, queue.databaseUrl) });
          await sleep(Math.min(100 * attempts, Math.max(0, untilMs - Date.now())));
        }
      }
      log.error("release_failed", `could not release the worker's locks: ${safeMessage(lastError ?? "no time left", queue.databaseUrl)}`, {
        queue: queue.kind,
        database: describeDatabase(queue.databaseUrl),
        attempts,
      });
      return false;
    },
  };
}

function isTransient(error: unknown): boolean {
  const code = (error as { code?: string } | undefined)?.code;
  // Class 08 is connection trouble, but for 08P01, a protocol violation, which another try repeats.
  if (code && (TRANSIENT_CODES.has(code) || (code.startsWith("08") && code !== "08P01"))) return true;
  const message = error instanceof Error ? error.message : "";
  return /Connection terminated|timeout expired|timed out/i.test(message);
}

/** Rejects when untilMs comes first: no statement or connection may hold jobguard past the grace period. */
function beforeDeadline<T>(work: Promise<T>, untilMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("timed out before the grace period ends")), Math.max(0, untilMs - Date.now()));
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
