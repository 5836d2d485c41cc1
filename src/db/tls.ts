import type { ConnectionOptions } from "node:tls";
import type { SslMode } from "../config/database-url.js";

// The mode is read by config/database-url.ts, which checks it with the rest of
// the URL before anything starts; db/ takes it from here.
export { sslModeOf, type SslMode } from "../config/database-url.js";

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
