import type { RedisCommands } from "../redis/connection.js";
import type { CheckHost, DeadWorker, Released } from "./adapter.js";

/**
 * What a queue in Redis knows (Sidekiq, RQ): how a dead worker's jobs in
 * flight are found, from what the worker itself keeps in Redis, and put back.
 * The Redis counterpart of adapter.ts's QueueAdapter.
 */
export interface RedisQueueAdapter {
  /** The host name the worker registers itself under (Sidekiq: $DYNO, else the host's). */
  host: string;
  /**
   * After the whole tree is gone: puts back the jobs the worker registrations
   * of these dead processes had in flight, and removes the registrations.
   * Atomic per registration, so a job is never put back twice.
   */
  release(redis: RedisCommands, worker: DeadWorker, counting?: RedisCounting): Promise<Released>;
  /** For `jobguard check`: writes the jobs in flight by process; resolves the number of problems. */
  check(redis: RedisCommands, out: (line: string) => void, host: CheckHost): Promise<number>;
  /** For leases and sweeps: the whole dyno's death. */
  rescue: RedisRescue;
}

/**
 * What a lease keeps of its tree's registrations in Redis (Sidekiq's
 * processes with their jobs in flight, RQ's workers), rewritten at each
 * heartbeat: once the dyno is dead, the worker's own keys may expire before a
 * sweep may act, and the lease then still says what was in flight.
 */
export type Registrations = unknown[];

/** A stale lease's sweep, for one queue in Redis. */
export interface RedisRescue {
  /** The registrations, on this host, of these pids of the tree. */
  snapshot(redis: RedisCommands, pids: readonly number[]): Promise<Registrations>;
  /**
   * The lease is stale: where the worker's own heartbeat is gone too, puts
   * back what its registrations had in flight, counted, and says so; where it
   * still beats (jobguard died alone, its worker runs on), takes nothing.
   */
  sweep(redis: RedisCommands, registrations: Registrations, counting: RedisCounting): Promise<Swept>;
}

/** What a sweep of one lease did. */
export interface Swept {
  released: Released;
  /** A registration whose worker still beats: the lease stays, and is swept again later. */
  alive: boolean;
}

/** Counting rescues: a job whose worker keeps dying under it goes where the worker puts failures itself. */
export interface RedisCounting {
  maxRescues: number;
}

// jobguard's count of one job's rescues, beside the worker's own keys; it
// expires a month after the last rescue, so the counts stay bounded.
export const RESCUE_COUNT_PREFIX = "jobguard:rescues:";
export const RESCUE_COUNT_TTL_S = 30 * 24 * 3600;
