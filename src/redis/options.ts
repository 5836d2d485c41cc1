// A Redis URL, read without connecting: where to connect and how to talk TLS.
// Pure: config/ checks a URL with it before anything starts, redis/ connects with it.

/** What jobguard connects with; never logged: it holds the password. */
export interface RedisTarget {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  /** rediss://: TLS; `verify` is false unless the URL asks for it (Heroku Redis's certificates are self-signed). */
  tls?: { verify: boolean };
}

// redis-py's spelling, which RQ and Celery users on Heroku already put in
// REDIS_URL (`?ssl_cert_reqs=none`); on the client side `optional` verifies as `required` does.
const CERT_REQS: Record<string, boolean> = { none: false, optional: true, required: true };

/**
 * Reads redis:// and rediss:// URLs as redis-rb and redis-py do: the database
 * number in the path, a user and a password. With rediss://, jobguard encrypts
 * but does not verify the certificate unless `ssl_cert_reqs=required`: Heroku
 * Redis presents a self-signed certificate, and Heroku tells Sidekiq and RQ
 * users to turn verification off (VERIFY_NONE, `ssl_cert_reqs=none`) for it.
 * Throws a sentence that never repeats the URL.
 */
export function redisTarget(url: string): RedisTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error("is not a valid URL (expected redis://:password@host:port/db or rediss://...)");
  }
  if (u.protocol !== "redis:" && u.protocol !== "rediss:")
    throw new Error(`must be a redis:// or rediss:// URL, not ${u.protocol}//`);
  const path = u.pathname.replace(/^\//, "");
  if (path !== "" && !/^\d+$/.test(path)) throw new Error("names a database that is not a number");
  const reqs = u.searchParams.get("ssl_cert_reqs") ?? "none";
  if (!(reqs.toLowerCase() in CERT_REQS))
    throw new Error(`has an unknown ssl_cert_reqs (expected none, optional or required)`);
  let username: string | undefined, password: string | undefined;
  try {
    username = u.username ? decodeURIComponent(u.username) : undefined;
    password = u.password ? decodeURIComponent(u.password) : undefined;
  } catch {
    throw new Error("has a malformed %-escape in its user name or password");
  }
  return {
    host: u.hostname.replace(/^\[|\]$/g, "") || "127.0.0.1",
    port: u.port ? Number(u.port) : 6379,
    db: path === "" ? 0 : Number(path),
    username,
    password,
    tls: u.protocol === "rediss:" ? { verify: CERT_REQS[reqs.toLowerCase()]! } : undefined,
  };
}

/** Where a Redis is, fit for a log line: host, port and database, never the password. */
export function describeRedis(url: string): string {
  try {
    const t = redisTarget(url);
    return `${t.tls ? "rediss" : "redis"}://${t.host}:${t.port}/${t.db}`;
  } catch {
    return "<the Redis URL, which cannot be parsed>";
  }
}
