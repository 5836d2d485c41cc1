import { libpqUrl, writtenCredentials } from "../db/url.js";
import { UsageError, type RawValue } from "./options.js";

// A database URL, checked without connecting; the TLS mode it asks for. Pure:
// db/ connects with what this accepts.

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

/**
 * Checks a database URL as far as it can be without connecting, so that a URL
 * jobguard cannot use stops it before the worker starts, not at the first
 * heartbeat or at the release. Never echoes the URL: it carries the password.
 */
export function checkDatabaseUrl(raw: RawValue, env: NodeJS.ProcessEnv): void {
  let url: URL;
  try {
    // libpq's forms too: postgres://user@/db?host=/var/run/postgresql (db/url.ts).
    url = libpqUrl(raw.value);
  } catch {
    throw new UsageError(
      `${raw.source} is not a valid URL (expected postgres://user:password@host:port/database)`,
    );
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") {
    throw new UsageError(`${raw.source} must be a postgres:// or postgresql:// URL, not ${url.protocol}//`);
  }
  try {
    sslModeOf(url.toString(), env);
  } catch (error) {
    throw new UsageError(`${raw.source}: ${(error as Error).message}`);
  }
  const written = writtenCredentials(raw.value);
  const parts: [string, string][] = [
    ["user name", written.user],
    ["password", written.password],
    ["host", url.hostname],
    ["database name", url.pathname.slice(1)],
  ];
  const malformed = parts.find(([, value]) => !percentDecodes(value));
  if (malformed) {
    throw new UsageError(
      `${raw.source} has a malformed %-escape in its ${malformed[0]}: write a % itself as %25, and any other byte as %XX of its UTF-8`,
    );
  }
}

// libpq refuses a % that does not begin two hex digits, and %00; node-postgres
// decodes these parts as UTF-8 and throws on bytes that are not.
function percentDecodes(part: string): boolean {
  if (/%(?![0-9a-f]{2})|%00/i.test(part)) return false;
  try {
    decodeURIComponent(part);
    return true;
  } catch {
    return false;
  }
}
