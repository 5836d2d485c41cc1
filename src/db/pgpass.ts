import { readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

// libpq's password file, read as libpq reads it, so that jobguard finds the
// password the worker's own libpq finds (node-postgres's own reading of it is
// deprecated, and warns). https://www.postgresql.org/docs/current/libpq-pgpass.html

/** Where a connection goes, as a line of the password file is matched against it. */
export interface PgpassTarget {
  host: string;
  port: string;
  database: string;
  user: string;
}

/** The password of the first matching line, or why there is none (for the sentence of a missing password). */
export type PgpassResult = { password: string } | { none: string };

/** The password file: PGPASSFILE, or ~/.pgpass. */
export function pgpassFile(env: NodeJS.ProcessEnv): string {
  return env.PGPASSFILE || join(homedir(), ".pgpass");
}

/**
 * Looks the connection up in the password file. A socket connection matches
 * the host `localhost` as well as its directory, as in libpq. A file that
 * others may read is ignored, as libpq ignores it.
 */
export function pgpassPassword(target: PgpassTarget, env: NodeJS.ProcessEnv): PgpassResult {
  const file = pgpassFile(env);
  let text: string;
  try {
    if ((statSync(file).mode & 0o077) !== 0)
      return { none: `${file} is ignored: group or others may read it (chmod 600 it)` };
    text = readFileSync(file, "utf8");
  } catch {
    return { none: `no ${file}` };
  }
  const hosts = target.host.startsWith("/") ? [target.host, "localhost"] : [target.host];
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === "" || line.startsWith("#")) continue;
    const fields = splitLine(line);
    if (fields.length < 5) continue;
    const [host, port, database, user] = fields as [string, string, string, string];
    const matches = (field: string, values: readonly string[]) => field === "*" || values.includes(field);
    if (
      matches(host, hosts) &&
      matches(port, [target.port]) &&
      matches(database, [target.database]) &&
      matches(user, [target.user])
    )
      return { password: fields.slice(4).join(":") };
  }
  return { none: `no line of ${file} matches` };
}

/** The fields of a line, split at each `:` that no backslash escapes; `\:` and `\\` unescaped. */
function splitLine(line: string): string[] {
  const fields: string[] = [];
  let field = "";
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "\\" && i + 1 < line.length) field += line[++i];
    else if (c === ":" && fields.length < 4) {
      fields.push(field);
      field = "";
    } else field += c;
  }
  fields.push(field);
  return fields;
}
