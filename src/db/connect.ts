import { existsSync } from "node:fs";
import { userInfo } from "node:os";
import { join } from "node:path";
import { connect as openConnection, type Connection, type ConnectOptions } from "../postgres/client.js";
import { pgpassPassword } from "./pgpass.js";
import { sslModeOf, tlsOptions, withSharedContext } from "./tls.js";
import { decoded, libpqUrl } from "./url.js";

/** What a caller may set of a connection: startup parameters, and how long connecting may take. */
export interface ConnectSettings {
  application_name?: string;
  /** Server settings for the session (`-c name=value`); PgBouncer refuses a connection that sends them. */
  options?: string;
  timeoutMs?: number;
}

// For callers that give no limit (the demo, the benchmarks); jobguard's own connections always pass theirs.
const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;

/** Where, as whom and how to connect for the URL, by libpq's rules. */
async function connectOptions(
  url: string,
  env: NodeJS.ProcessEnv,
  settings: ConnectSettings,
  signal: AbortSignal | undefined,
): Promise<ConnectOptions> {
  const parsed = libpqUrl(url);
  const params = parsed.searchParams;
  const mode = sslModeOf(parsed.toString(), env);
  const { host, port, user, database, given } = withLibpqDefaults(
    {
      host: params.get("host") || decoded(parsed.hostname.replace(/^\[(.*)\]$/, "$1")),
      port: params.get("port") || parsed.port,
      user: params.get("user") || decoded(parsed.username),
      password: params.get("password") || decoded(parsed.password),
      database: params.get("dbname") || decoded(parsed.pathname.slice(1)),
    },
    env,
  );
  const options = settings.options ?? params.get("options") ?? env.PGOPTIONS;
  const unixSocket = host.startsWith("/");
  return {
    host,
    port,
    parameters: {
      user,
      database,
      application_name: settings.application_name ?? params.get("application_name") ?? "jobguard",
      client_encoding: "UTF8",
      ...(options ? { options } : {}),
    },
    password: () => passwordFor({ host, port, database, user, given }, env),
    // As libpq: no TLS over a Unix socket, whatever the mode (a socket never leaves the host).
    tls: mode === "disable" || unixSocket ? false : await withSharedContext(await tlsOptions(mode, params)),
    tlsRequired: mode !== "disable" && mode !== "prefer" && mode !== "allow",
    timeoutMs: Math.max(1, Math.round(settings.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS)),
    keepAliveMs: KEEPALIVE_IDLE_MS,
    signal,
  };
}

/**
 * What libpq fills in where the URL says nothing: the host is PGHOST or the
 * local socket, the user PGUSER or the process's owner (not $USER, which a
 * platform may leave unset), the database PGDATABASE or the user's name, and
 * the password PGPASSWORD (or, asked only when the server wants one, the
 * password file: passwordFor).
 */
function withLibpqDefaults(
  written: { host: string; port: string; user: string; password: string; database: string },
  env: NodeJS.ProcessEnv,
) {
  const port = written.port || env.PGPORT || "5432";
  const host = written.host || env.PGHOST || localSocket(port);
  const user = written.user || env.PGUSER || processOwner();
  if (!user) throw new Error("no database user: put one in the database URL, or set PGUSER");
  const database = written.database || env.PGDATABASE || user;
  return { host, port: Number(port), user, database, given: written.password || env.PGPASSWORD };
}

/** The password, when the server asks for one: the URL's or PGPASSWORD, else the password file's, else an error naming where none was found. */
function passwordFor(
  to: { host: string; port: number; database: string; user: string; given: string | undefined },
  env: NodeJS.ProcessEnv,
): string {
  if (to.given) return to.given;
  const { host, database, user } = to;
  const found = pgpassPassword({ host, port: String(to.port), database, user }, env);
  if ("password" in found) return found.password;
  throw new Error(
    `the server asks for a password for user ${user}, and none is given: not in the database URL, no PGPASSWORD, ${found.none}`,
  );
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

// How long a connection may sit idle before TCP probes it. The probes keep a
// NAT's or firewall's mapping of an idle connection alive (many drop one
// silently after a few minutes), and let the kernel notice a peer that is gone.
// They cannot bound a call: while a statement awaits its answer, only the
// caller's own time limit can (db/kept-connection.ts).
const KEEPALIVE_IDLE_MS = 10_000;

/**
 * Connects as libpq would: `prefer` and `allow` ask for TLS and go on in plain
 * text when the server offers none (a local PostgreSQL, say), the other modes
 * require it. Aborting `signal` destroys the socket, connecting or connected:
 * the way to drop a connection that has gone silent, where end() would wait on it.
 */
export async function connect(
  url: string,
  env: NodeJS.ProcessEnv,
  settings: ConnectSettings = {},
  signal?: AbortSignal,
): Promise<Connection> {
  return openConnection(await connectOptions(url, env, settings, signal));
}

/**
 * A connection as jobguard opens all of its own: named "jobguard", with TCP
 * keepalive, connected within timeoutMs (or dropped when `signal` aborts). No
 * `options` (such as -c TimeZone=UTC): PgBouncer refuses a connection that
 * sends them. The queues' SQL converts to UTC itself (AT TIME ZONE 'UTC').
 */
export function connectAsJobguard(
  url: string,
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<Connection> {
  return connect(url, env, { application_name: "jobguard", timeoutMs }, signal);
}
