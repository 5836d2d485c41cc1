import { sslModeOf } from "../db/tls.js";
import { libpqUrl, writtenCredentials } from "../db/url.js";
import { UsageError, type RawValue } from "./options.js";

// A database URL, checked without connecting, with the TLS mode it asks for
// (db/tls.ts reads it, by libpq's rules). Pure: db/ connects with what this accepts.

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
