// A database URL as libpq reads it, in the shape the WHATWG URL parser (and
// node-postgres's pg-connection-string) can read. Pure: config/ checks URLs
// with it, db/ connects with it.

// A user (and password) but no host: libpq's socket form, postgres://user@/db?host=/path,
// which the WHATWG parser refuses.
const USER_WITHOUT_HOST = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#@]*)@(?=[/?#]|$)/i;

/**
 * The URL, with a user but no host written as libpq also reads it: the user
 * and password as query parameters (`postgres:///db?host=/path&user=u`).
 * Throws as `new URL()` does on anything else it cannot read.
 */
export function libpqUrl(text: string): URL {
  const match = USER_WITHOUT_HOST.exec(text);
  if (!match) return new URL(text);
  const [whole, scheme, userinfo] = match as unknown as [string, string, string];
  const url = new URL(`${scheme}${text.slice(whole.length) || "/"}`);
  const { user, password } = userinfoParts(userinfo);
  // set() escapes what it writes, so a "+" in a password stays a "+".
  if (user) url.searchParams.set("user", decoded(user));
  if (password) url.searchParams.set("password", decoded(password));
  return url;
}

/** The user name and password as written in the URL, %-escapes and all; empty where there is none. */
export function writtenCredentials(text: string): { user: string; password: string } {
  const userinfo = /^[a-z][a-z0-9+.-]*:\/\/([^/?#@]*)@/i.exec(text)?.[1];
  return userinfo === undefined ? { user: "", password: "" } : userinfoParts(userinfo);
}

function userinfoParts(userinfo: string): { user: string; password: string } {
  const colon = userinfo.indexOf(":");
  return colon === -1
    ? { user: userinfo, password: "" }
    : { user: userinfo.slice(0, colon), password: userinfo.slice(colon + 1) };
}

// A malformed escape stays as written: config/database-url.ts refuses such a URL before anything starts.
export function decoded(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}
