// jobguard's leases in Redis, beside the worker's own keys: a hash of lease
// id -> the lease (JSON), and a hash of lease id -> its last renewal, in
// milliseconds of Redis's own clock, so that no dyno's clock judges another's.
export const LEASES_KEY = "jobguard:leases";
export const RENEWED_KEY = "jobguard:lease-renewed";

/** Removes one lease. KEYS: the two hashes; ARGV: the lease's id. */
export const DROP_LEASE = `
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
`;

/** A lease as Redis holds it. */
export interface RedisLeaseRecord {
  id: string;
  host: string;
  dyno?: string;
  /** The pid namespace (/proc/self/ns/pid) and boot id the pids belong to. */
  pidNamespace: string;
  heartbeat_ms: number;
  stale_after_ms: number;
  pids: number[];
  /** The tree's registrations in the worker's own keys, as of this heartbeat (queues/redis-adapter.ts). */
  registrations: unknown[];
}
