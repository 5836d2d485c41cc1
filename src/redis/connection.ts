import type { Redis } from "ioredis";
import { redisTarget } from "./options.js";

/** What the queues' Redis code may do with a connection: send one command and read its reply. */
export interface RedisCommands {
  call(command: string, ...args: Array<string | number>): Promise<unknown>;
}

/**
 * A Redis connection jobguard keeps (the release's, the lease's), by the same
 * rule as db/kept-connection.ts: opened on first use, one use at a time, each with
 * its own time limit, and destroyed for a new one whenever a use fails or runs
 * over. A silent Redis (a failover, a network that drops packets) never
 * answers: neither client reports it, so the limit is jobguard's (measured in
 * docs/redis.md). ioredis is imported on the first use only: a run without a
 * Redis queue never loads it.
 */
export class RedisConnection {
  private current: Promise<Redis> | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly url: string) {}

  /** Runs fn on the connection within limitMs, a connect included. */
  use<T>(limitMs: number, fn: (redis: RedisCommands) => Promise<T>): Promise<T> {
    const run = this.queue.then(() => this.attempt(limitMs, fn));
    this.queue = run.catch(() => {});
    return run;
  }

  /** Ends the connection: jobguard is done with Redis. */
  close(): void {
    const current = this.current;
    this.current = undefined;
    void current?.then((redis) => redis.disconnect()).catch(() => {});
  }

  private async attempt<T>(limitMs: number, fn: (redis: RedisCommands) => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const overrun = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`Redis did not answer within ${limitMs} ms`)),
        Math.max(0, limitMs),
      );
    });
    const connection = (this.current ??= this.open(limitMs));
    try {
      return await Promise.race([connection.then(fn), overrun]);
    } catch (error) {
      // Disconnecting also ends fn: its pending command fails at once.
      if (this.current === connection) this.current = undefined;
      void connection.then((redis) => redis.disconnect()).catch(() => {});
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  private async open(limitMs: number): Promise<Redis> {
    const { Redis } = await import("ioredis");
    const target = redisTarget(this.url);
    const redis = new Redis({
      host: target.host,
      port: target.port,
      db: target.db,
      username: target.username,
      password: target.password,
      tls: target.tls && { rejectUnauthorized: target.tls.verify, servername: target.host },
      connectionName: "jobguard",
      lazyConnect: true,
      connectTimeout: limitMs,
      // jobguard retries on a new connection itself, within its own limits.
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      enableReadyCheck: false,
    });
    // A failure shows in the use that meets it; the event must not crash jobguard.
    redis.on("error", () => {});
    try {
      await redis.connect();
    } catch (error) {
      redis.disconnect();
      throw error;
    }
    return redis;
  }
}
