import type { ConnectionOptions, SecureContext } from "node:tls";

// config/database-url.ts checks the mode with the rest of the URL before
// anything starts: this file loads nothing with effects (fs only when a
// certificate is read).

/** How jobguard talks TLS to the database, in libpq's terms. */
export type SslMode = "disable" | "allow" | "prefer" | "require" | "verify-ca" | "verify-full" | "no-verify";

const SSL_MODES: readonly string[] = [
  "disable",
  "allow",
  "prefer",
  "require",
  "verify-ca",
  "verify-full",
  "no-verify",
];

/**
 * The TLS mode, from the URL's sslmode or else PGSSLMODE, with libpq's meaning
 * rather than node-postgres's: Heroku Postgres requires TLS with a certificate
 * Node will not verify, and its users' Ruby and Python workers connect with
 * libpq, where `require` means "encrypt, do not verify" and no mode at all
 * means `prefer`. `no-verify` is node-postgres's own spelling of the same.
 */
export function sslModeOf(url: string, env: NodeJS.ProcessEnv): SslMode {
  const mode = new URL(url).searchParams.get("sslmode") ?? (env.PGSSLMODE || "prefer");
  if (!SSL_MODES.includes(mode))
    throw new Error(`unknown sslmode "${mode}" (expected one of ${SSL_MODES.join(", ")})`);
  return mode as SslMode;
}

/** The URL parameters that say how to use TLS; node-postgres must not read them with its own meaning. */
export const SSL_PARAMS = ["sslmode", "sslrootcert", "sslcert", "sslkey", "uselibpqcompat", "ssl"];

/** Node's TLS options for a mode, with the certificates the URL names. */
export async function tlsOptions(mode: SslMode, params: URLSearchParams): Promise<ConnectionOptions> {
  const { readFileSync } = await import("node:fs");
  const options: ConnectionOptions = {};
  const rootCert = params.get("sslrootcert");
  if (rootCert) options.ca = readFileSync(rootCert, "utf8");
  if (params.get("sslcert")) options.cert = readFileSync(params.get("sslcert")!, "utf8");
  if (params.get("sslkey")) options.key = readFileSync(params.get("sslkey")!, "utf8");
  if (mode === "verify-full") return options;
  // libpq: `require` with a root certificate verifies the chain like verify-ca.
  if (mode === "verify-ca" || (mode === "require" && rootCert))
    return { ...options, checkServerIdentity: () => undefined };
  return { ...options, rejectUnauthorized: false };
}

let lastContext: { key: string; context: SecureContext } | undefined;

/**
 * The options with one secure context for as long as their certificates read
 * the same. With JOBGUARD_CONNECTION=per-heartbeat every heartbeat opens a TLS
 * connection, and a context of its own for each is OpenSSL memory that waits
 * for V8 to collect the connection's objects (bench row 8: about 3 MiB of
 * steady RSS at a heartbeat of 0.1 s). tlsOptions() reads the files at each
 * connection all the same, so a certificate renewed on disk is used from the
 * next one.
 */
export async function withSharedContext(options: ConnectionOptions): Promise<ConnectionOptions> {
  const key = JSON.stringify([options.ca, options.cert, options.key]);
  if (lastContext?.key !== key) {
    const { createSecureContext } = await import("node:tls");
    const { ca, cert, key: privateKey } = options;
    lastContext = { key, context: createSecureContext({ ca, cert, key: privateKey }) };
  }
  return { ...options, secureContext: lastContext.context };
}
