import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { now } from "../clock.js";
import type { QueueConfig } from "../config/config.js";
import type { Logger } from "../log.js";
import type { ReleasePort } from "../supervise/release-port.js";
import { KeptConnection } from "../db/kept-connection.js";
import { describeDatabase, safeMessage } from "../db/redact.js";
import { isTransient, retryUntil } from "../db/retry.js";
import { terminateSessions } from "../db/sessions.js";
import { LeaseKeeper } from "../lease/keeper.js";
import { DeadLimit } from "../lease/prune-history.js";
import { ensureSchema, leaseTables } from "../lease/schema.js";
import { Sweeper } from "../lease/sweeper.js";
import type { QueueAdapter, Released } from "../queues/adapter.js";
import { loadAdapter } from "../queues/index.js";
import type { DeadProcess } from "../process-tree/tree-history.js";

const MAX_LISTED = 100;
// Dropping the lease is a courtesy: a lease left behind goes stale, and the
// next sweep removes it. It must not keep jobguard up in an outage.
const LEASE_DROP_MS = 2000;
// How often a queue without leases bounds its pid history (a heartbeat prunes the others').
const LIMIT_HISTORY_EVERY_MS = 10_000;

/**
 * What jobguard does around a kill when a queue is configured: tag the
 * worker's sessions, keep its lease, and once the tree is gone, end its
 * sessions and hand back what it held, through the queue's adapter.
 */
export async function createRelease(
  queue: QueueConfig,
  graceMs: number,
  env: NodeJS.ProcessEnv,
  log: Logger,
): Promise<ReleasePort> {
  const adapter = await loadAdapter(queue);
  // Tag the worker's sessions so they can be found after it is dead; a
  // PGAPPNAME the user chose is theirs to keep, and then nothing is tagged.
  const tag = env.PGAPPNAME ? undefined : `jobguard-${randomBytes(8).toString("hex")}`;
  const database = new KeptConnection(queue.databaseUrl, env, adapter.prepare?.bind(adapter));
  // Whether a shutdown or a release has opened `database`.
  let releasing = false;
  const lease = queue.rescue && adapter.rescue ? leaseParts(queue, adapter.rescue, tag, env, log) : undefined;
  const safe = (error: unknown) => safeMessage(error, queue.databaseUrl);
  let limiting: NodeJS.Timeout | undefined;

  async function releaseOnce(
    client: Parameters<QueueAdapter["release"]>[0],
    dead: DeadProcess[],
    counted: boolean,
  ): Promise<Released | "deferred"> {
    const worker = { host: hostname(), dead };
    const ended = await terminateSessions(client, tag, (await adapter.sessions?.(client, worker)) ?? []);
    if (ended.length > 0) {
      log.info("sessions_terminated", {
        tag,
        sessions: ended.length,
        backends: ended.map((s) => `${s.pid}:${s.state}`).join(","),
        advisory_locks: ended.reduce((n, s) => n + s.advisoryLocks, 0),
      });
    }
    if (!lease) return adapter.release(client, worker);
    // jobguard's own tables are a help, not a condition: a role that may not
    // create them still gets its worker's locks released, uncounted.
    const tables = await lease.ready(client).then(
      () => true,
      (error: unknown) => {
        if (isTransient(error)) throw error;
        log.debug("lease_tables_unavailable", { error: safe(error) });
        return false;
      },
    );
    // Another pid namespace's tree may lock under these very names: leave
    // them to a sweep, which knows which of them that tree's lease claims.
    if (tables && (await lease.keeper.shared(client))) return "deferred";
    if (!counted || !tables) return adapter.release(client, worker);
    return adapter.release(client, worker, {
      countsTable: lease.tables.rescues,
      maxRescues: queue.rescue!.maxRescues,
    });
  }

  return {
    childEnv: tag ? { PGAPPNAME: tag } : {},
    // Only a queue with leases counts rescues.
    countsCrashes: lease !== undefined,

    start(history, stop) {
      if (lease) {
        lease.keeper.start(history, stop);
        lease.sweeper.start();
      } else {
        const limit = new DeadLimit(history);
        limiting = setInterval(() => limit.prune(), LIMIT_HISTORY_EVERY_MS).unref();
      }
    },

    prepare() {
      // The release needs every dead process the history holds now.
      clearInterval(limiting);
      lease?.sweeper.stop();
      releasing = true;
      database.warm(graceMs).catch((error: unknown) => log.debug("connect_failed", { error: safe(error) }));
    },

    async release(dead, { counted, precautionary }, untilMs) {
      clearInterval(limiting);
      lease?.sweeper.stop();
      lease?.keeper.stop();
      releasing = true;
      const started = now();
      const outcome = await retryUntil(
        database,
        untilMs,
        (client) => releaseOnce(client, dead, counted),
        (attempt, error) => log.debug("release_retry", { attempt, error: safe(error) }),
      );
      if (!outcome.ok) {
        // The lease stays behind: once it is stale, another dyno's sweep releases these locks.
        log.error("release_failed", `could not release the worker's locks: ${safe(outcome.error)}`, {
          queue: queue.kind,
          database: describeDatabase(queue.databaseUrl),
          attempts: outcome.attempts,
        });
        return "failed";
      }
      if (outcome.value === "deferred") {
        log.info("release_deferred", {
          queue: queue.kind,
          pids: listed(dead.map((d) => d.pid)),
          detail:
            "a live lease of another pid namespace has this host name, and its tree may lock under these names: the lease stays, and a sweep releases what these processes held once it is stale, under the pids no live lease has",
        });
        return "deferred";
      }
      const { count, ids, failed } = outcome.value;
      const fields = {
        queue: queue.kind,
        jobs: count,
        ids: listed(ids),
        rescue_counted: failed ? true : undefined,
        failed: failed?.length ? listed(failed) : undefined,
        pids: listed(dead.map((d) => d.pid)),
        ms: Math.round(now() - started),
        // More than one: a connection failed or went silent, and a new one did the work.
        attempts: outcome.attempts > 1 ? outcome.attempts : undefined,
      };
      // After a clean exit, a release that finds nothing is the usual case, not an event.
      if (precautionary && count === 0) log.debug("locks_released", fields);
      else log.info("locks_released", fields);
      return "released";
    },

    async finish(timeoutMs) {
      // Through the release's connection where there is one: it has just
      // answered, and a heartbeat stuck on the lease's cannot hold it up.
      await lease?.keeper.drop(Math.min(timeoutMs, LEASE_DROP_MS), releasing ? database : undefined);
      database.close();
      lease?.database.close();
    },
  };
}

/** A list for a log line, cut short: a release may concern thousands. */
function listed(items: ReadonlyArray<string | number>): string {
  return items.slice(0, MAX_LISTED).join(",") + (items.length > MAX_LISTED ? ",..." : "");
}

/** The lease's keeper (made at start, when the stop handle comes), its sweeper, and what they share. */
interface LeaseParts {
  tables: ReturnType<typeof leaseTables>;
  ready: (client: Parameters<typeof ensureSchema>[0]) => Promise<void>;
  database: KeptConnection;
  keeper: LeaseKeeper;
  sweeper: Sweeper;
}

function leaseParts(
  queue: QueueConfig,
  rescue: NonNullable<QueueAdapter["rescue"]>,
  tag: string | undefined,
  env: NodeJS.ProcessEnv,
  log: Logger,
): LeaseParts {
  const config = queue.rescue!;
  const tables = leaseTables(config.leaseTable);
  let schemaReady = false;
  const ready = async (client: Parameters<typeof ensureSchema>[0]) => {
    if (schemaReady) return;
    await ensureSchema(client, tables);
    schemaReady = true;
  };
  // The lease has a connection of its own, so a long sweep never stands
  // between a SIGTERM and the release; it holds it between heartbeats only
  // with JOBGUARD_CONNECTION=keep (docs/database.md weighs the two). Sweeps
  // have another, so that no renewal ever waits behind one.
  const database = new KeptConnection(queue.databaseUrl, env, undefined, config.connection === "keep");
  const keeper = new LeaseKeeper({
    database,
    tables,
    ready,
    queue: rescue,
    config,
    url: queue.databaseUrl,
    sessionTag: tag,
    dyno: env.DYNO,
    log,
  });
  const sweeper = new Sweeper(
    new KeptConnection(queue.databaseUrl, env, undefined, false),
    tables,
    ready,
    rescue,
    config,
    queue.databaseUrl,
    log,
  );
  return { tables, ready, database, keeper, sweeper };
}
