import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { userInfo } from "node:os";
import { join } from "node:path";
import type { Client, ClientConfig } from "pg";
import { pgpassPassword } from "./pgpass.js";
import { SSL_PARAMS, sslModeOf, tlsOptions, withSharedContext } from "./tls.js";
import { libpqUrl } from "./url.js";

// pg and pg-connection-string are CommonJS: loaded with require(), not
// import(), they skip the ESM wrappers and the scan of their exports that an
// import() of CommonJS costs (about 5 ms of every start with a queue).
const require = createRequire(import.meta.url);

/**
 * pg, loaded at first use. To tell whether it runs in a Cloudflare Worker, pg
 * looks at the global `navigator`, and where there is none, constructs a
 * `Response`: on Node 20, where there is none, that loads Node's whole fetch
 * implementation, about 5 MiB that stay resident for the life of a process
 * that never fetches. Node 21 and later define `navigator`; defining it as
 * they do spares the load.
 */
function loadPg(): typeof import("pg").default {
  const global = globalThis as { navigator?: unknown };
  global.navigator ??= { userAgent: `Node.js/${process.versions.node.split(".")[0]}` };
  return require("pg") as typeof import("pg").default;
}

/** node-postgres's config for the URL, by libpq's rules; `tls: false` forces a plain connection. */
async function clientConfig(url: string, env: NodeJS.ProcessEnv, tls: boolean): Promise<ClientConfig> {
  const { parse } = require("pg-connection-string") as typeof import("pg-connection-string");
  const parsed = libpqUrl(url);
  const params = new URLSearchParams(parsed.searchParams);
  for (const name of SSL_PARAMS) parsed.searchParams.delete(name);
  const mode = sslModeOf(parsed.toString(), env);
  const config = parse(parsed.toString()) as ClientConfig;
  config.ssl = tls && mode !== "disable" ? await withSharedContext(await tlsOptions(mode, params)) : false;
  return withLibpqDefaults(config, env);
}

/**
 * What libpq fills in where the URL says nothing, and node-postgres would
 * not: the host is PGHOST or the local socket, the user PGUSER or the
 * process's owner (not $USER, which a platform may leave unset), and the
 * password PGPASSWORD or the password file, asked for only when the server
 * wants one, and named when there is none.
 */
function withLibpqDefaults(config: ClientConfig, env: NodeJS.ProcessEnv): ClientConfig {
  const port = String(config.port || env.PGPORT || 5432);
  const host = config.host || env.PGHOST || localSocket(port);
  const user = config.user || env.PGUSER || processOwner();
  if (!user) throw new Error("no database user: put one in the database URL, or set PGUSER");
  const database = config.database || env.PGDATABASE || user;
  const given = (typeof config.password === "string" && config.password) || env.PGPASSWORD;
  return {
    ...config,
    host,
    port: Number(port),
    user,
    database,
    // A function: node-postgres calls it only when the server asks for a password.
    password: () => {
      if (given) return given;
      const found = pgpassPassword({ host, port, database, user }, env);
      if ("password" in found) return found.password;
      throw new Error(
        `the server asks for a password for user ${user}, and none is given: not in the database URL, no PGPASSWORD, ${found.none}`,
      );
    },
  };
}

// libpq's default socket directory: Debian's and most distributions' build, or the source's own default.
const SOCKET_DIRECTORIES = ["/var/run/postgresql", "/tmp"];

/** The directory of a local server's socket for this port, as libpq finds it; else TCP to localhost. */
function localSocket(port: string): string {
  return SOCKET_DIRECTORIES.find((dir) => existsSync(join(dir, `.s.PGSQL.${port}`))) ?? "localhost";
}

/** The name of the user the process runs as, where the system has one (a container's uid may have none). */
function processOwner(): string | undefined {
  try {
    return userInfo().username;
  } catch {
    return undefined;
  }
}

/**
 * Connects with libpq's fallback: `prefer` and `allow` try TLS first and go on
 * in plain text when the server offers none (a local PostgreSQL, say).
 * Aborting `signal` destroys the socket, connecting or connected: the way to
 * drop a connection that has gone silent, where end() would wait on it.
 */
export async function connect(
  url: string,
  env: NodeJS.ProcessEnv,
  extra: ClientConfig = {},
  signal?: AbortSignal,
): Promise<Client> {
  const pg = loadPg();
  const mode = sslModeOf(libpqUrl(url).toString(), env);
  const open = async (tls: boolean) => {
    const client = new pg.Client({ ...(await clientConfig(url, env, tls)), ...extra });
    // An error the server sends in the very read that completes the startup
    // (a session terminated as it connects: a failover, pg_terminate_backend)
    // is emitted before the caller can listen: without a listener here it
    // would be an uncaught error. Calls still see it, as a failed query.
    client.on("error", () => {});
    signal?.throwIfAborted();
    signal?.addEventListener("abort", () => client.connection.stream.destroy(), { once: true });
    try {
      await client.connect();
      return client;
    } catch (error) {
      void client.end().catch(() => {});
      throw error;
    }
  };
  try {
    return await open(true);
  } catch (error) {
    const noTls = error instanceof Error && /does not support SSL/i.test(error.message);
    if (noTls && (mode === "prefer" || mode === "allow")) return open(false);
    throw error;
  }
}

// How long a connection may sit idle before TCP probes it. The probes keep a
// NAT's or firewall's mapping of an idle connection alive (many drop one
// silently after a few minutes), and let the kernel notice a peer that is gone.
// They cannot bound a call: while a statement awaits its answer, only the
// caller's own time limit can (db/kept-connection.ts).
const KEEPALIVE_IDLE_MS = 10_000;

/**
 * A connection as jobguard opens all of its own: named "jobguard", with TCP keepalive, connected within timeoutMs (or dropped when `signal` aborts).
 */
export function connectAsJobguard(
  url: string,
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<Client> {
  const config: ClientConfig = {
    application_name: "jobguard",
    connectionTimeoutMillis: Math.max(1, Math.round(timeoutMs)),
    keepAlive: true,
    keepAliveInitialDelayMillis: KEEPALIVE_IDLE_MS,
    // No `options` (such as -c TimeZone=UTC): PgBouncer refuses a connection
    // that sends them. The queues' SQL converts to UTC itself (AT TIME ZONE 'UTC').
  };
  return connect(url, env, config, signal);
}
