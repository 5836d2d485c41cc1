import { libpqUrl } from "./url.js";

/** Where a connection goes, fit for a log line: never the password, never the whole URL. */
export function describeDatabase(url: string): string {
  try {
    const u = libpqUrl(url);
    const host = decodeURIComponent(u.hostname) || u.searchParams.get("host") || "localhost";
    return `${host}:${u.port || u.searchParams.get("port") || 5432}${u.pathname || "/"}`;
  } catch {
    return "<the database URL, which cannot be parsed>";
  }
}

/**
 * An error's message with the URL and its password taken out. It cannot
 * throw, whatever the URL holds (a malformed %-escape included), and it
 * replaces the password only where it stands whole: a password "post" must
 * not turn "postgres" into "***gres".
 */
export function safeMessage(error: unknown, url: string): string {
  let message = error instanceof Error ? error.message : String(error);
  for (const secret of secretsOf(url)) {
    message = message.replace(new RegExp(`(?<![\\w%])${escapeRegExp(secret)}(?![\\w%])`, "g"), "***");
  }
  return message;
}

/** The URL and its password, as written and decoded; longest first, so the URL goes before the password in it. */
function secretsOf(url: string): string[] {
  // By hand rather than with new URL(): the URL may be one that does not parse.
  // In the user info, or (as libpq also reads it) a query parameter, where a + is a space.
  const info = /^[a-z][a-z0-9+.-]*:\/\/[^/@:]*:([^/@]*)@/i.exec(url)?.[1] ?? "";
  const query = /[?&]password=([^&#]*)/i.exec(url)?.[1] ?? "";
  const written = [info, query, query.replace(/\+/g, " ")];
  const decoded = written.map((password) => {
    try {
      return decodeURIComponent(password);
    } catch {
      return password; // a malformed escape: the password as written is the secret
    }
  });
  return [url, ...written, ...decoded].filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
}

function escapeRegExp(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|/-]/g, "\\$&");
}
