import type { Client, ClientConfig } from "pg";
import { SSL_PARAMS, sslModeOf, tlsOptions } from "./tls.js";

/**
 * pg, loaded at first use. To tell whether it runs in a Cloudflare Worker, pg
 * looks at the global `navigator`, and where there is none, constructs a
 * `Response`: on Node 20, where there is none, that loads Node's whole fetch
 * implementation, about 5 MiB that stay resident for the life of a process
 * that never fetches. Node 21 and later define `navigator`; defining it as
 * they do spares the load.
 */
async function loadPg(): Promise<typeof import("pg").default> {
  const global = globalThis as { navigator?: unknown };
  global.navigator ??= { userAgent: `Node.js/${process.versions.node.split(".")[0]}` };
  return (await import("pg")).default;
}

/** node-postgres's config for the URL, with TLS set by libpq's rules; `tls: false` forces a plain connection. */
async function clientConfig(url: string, env: NodeJS.ProcessEnv, tls: boolean): Promise<ClientConfig> {
  const { parse } = await import("pg-connection-string");
  const stripped = new URL(url);
  for (const name of SSL_PARAMS) stripped.searchParams.delete(name);
  const mode = sslModeOf(url, env);
  const config = parse(stripped.toString()) as ClientConfig;
  config.ssl = tls && mode !== "disable" ? await tlsOptions(mode, new URL(url).searchParams) : false;
  return config;
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
  const pg = await loadPg();
  const mode = sslModeOf(url, env);
  const open = async (tls: boolean) => {
    const client = new pg.Client({ ...(await clientConfig(url, env, tls)), ...extra });
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
