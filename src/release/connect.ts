import type { ConnectionOptions } from "node:tls";
import type { Client, ClientConfig } from "pg";

/** How jobguard talks TLS to the database, in libpq's terms. */
export type SslMode = "disable" | "allow" | "prefer" | "require" | "verify-ca" | "verify-full" | "no-verify";

const SSL_MODES: readonly string[] = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full", "no-verify"];
const SSL_PARAMS = ["sslmode", "sslrootcert", "sslcert", "sslkey", "uselibpqcompat", "ssl"];

/** Where a connection goes, fit for a log line: never the password, never the whole URL. */
export function describeDatabase(url: string): string {
  const u = new URL(url);
  const host = u.hostname || u.searchParams.get("host") || "localhost";
  return `${host}:${u.port || 5432}${u.pathname || "/"}`;
}

/**
 * The TLS mode, from the URL's sslmode or else PGSSLMODE, with libpq's meaning
 * rather than node-postgres's: Heroku Postgres requires TLS with a certificate
 * Node will not verify, and its users' Ruby and Python workers connect with
 * libpq, where `require` means "encrypt, do not verify" and no mode at all
 * means `prefer`. `no-verify` is node-postgres's own spelling of the same.
 */
export function sslModeOf(url: string, env: NodeJS.ProcessEnv): SslMode {
  const mode = new URL(url).searchParams.get("sslmode") ?? (env.PGSSLMODE || "prefer");
  if (!SSL_MODES.includes(mode)) throw new Error(`unknown sslmode "${mode}" (expected one of ${SSL_MODES.join(", ")})`);
  return mode as SslMode;
}

/** node-postgres's config for the URL, with TLS set by libpq's rules; `tls: false` forces a plain connection. */
async function clientConfig(url: string, env: NodeJS.ProcessEnv, tls = true): Promise<ClientConfig> {
  const { parse } = await import("pg-connection-string");
  const stripped = new URL(url);
  for (const name of SSL_PARAMS) stripped.searchParams.delete(name);
  const mode = sslModeOf(url, env);
  const config = parse(stripped.toString()) as ClientConfig;
  config.ssl = tls && mode !== "disable" ? await tlsOptions(mode, new URL(url).searchParams) : false;
  return config;
}

async function tlsOptions(mode: SslMode, params: URLSearchParams): Promise<ConnectionOptions> {
  const { readFileSync } = await import("node:fs");
  const options: ConnectionOptions = {};
  const rootCert = params.get("sslrootcert");
  if (rootCert) options.ca = readFileSync(rootCert, "utf8");
  if (params.get("sslcert")) options.cert = readFileSync(params.get("sslcert")!, "utf8");
  if (params.get("sslkey")) options.key = readFileSync(params.get("sslkey")!, "utf8");
  if (mode === "verify-full") return options;
  // libpq: `require` with a root certificate verifies the chain like verify-ca.
  if (mode === "verify-ca" || (mode === "require" && rootCert)) return { ...options, checkServerIdentity: () => undefined };
  return { ...options, rejectUnauthorized: false };
}

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

/**
 * Connects with libpq's fallback: `prefer` and `allow` try TLS first and go on
 * in plain text when the server offers none (a local PostgreSQL, say).
 */
export async function connect(url: string, env: NodeJS.ProcessEnv, extra: ClientConfig = {}): Promise<Client> {
  const pg = await loadPg();
  const mode = sslModeOf(url, env);
  const open = async (tls: boolean) => {
    const client = new pg.Client({ ...(await clientConfig(url, env, tls)), ...extra });
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

/** An error's message with every trace of the URL's password taken out. */
export function safeMessage(error: unknown, url: string): string {
  let message = error instanceof Error ? error.message : String(error);
  const { password } = new URL(url);
  for (const secret of [url, password, decodeURIComponent(password)]) {
    if (secret) message = message.split(secret).join("***");
  }
  return message;
}
