/** How much jobguard says on stderr. */
export type LogLevel = "silent" | "info" | "debug";

/** Field values of one log line. */
export type Fields = Record<string, string | number | boolean | undefined>;

/** Writes one logfmt line per lifecycle event to stderr, as Heroku's own router and dyno manager do. */
export interface Logger {
  info(event: string, fields?: Fields): void;
  debug(event: string, fields?: Fields): void;
  error(event: string, message: string, fields?: Fields): void;
}

/** A logger at the given level; errors are written at every level but `silent`. */
export function createLogger(level: LogLevel): Logger {
  const write = (event: string, fields: Fields) => {
    // A closed stderr must not take the supervisor down with it.
    try {
      process.stderr.write(formatLine(event, fields));
    } catch {
      /* nothing left to tell */
    }
  };
  const on = level !== "silent";
  return {
    info: (event, fields = {}) => on && write(event, fields),
    debug: (event, fields = {}) => level === "debug" && write(event, fields),
    error: (event, message, fields = {}) => on && write(event, { error: message, ...fields }),
  };
}

/** `jobguard event=<event> key=value ...`, quoting values that need it. */
function formatLine(event: string, fields: Fields): string {
  let line = `jobguard event=${event}`;
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    line += ` ${key}=${formatValue(String(value))}`;
  }
  return `${line}\n`;
}

function formatValue(value: string): string {
  return value === "" || /[\s"=\\]/.test(value) ? JSON.stringify(value) : value;
}
