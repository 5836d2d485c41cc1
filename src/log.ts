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

// What stderr may hold unwritten before further lines are dropped: a reader
// that has stalled must cost neither memory without bound nor a blocked loop.
const MAX_PENDING_BYTES = 64 * 1024;
let errorsIgnored = false;

/**
 * Writes to stderr, best effort: a line that cannot be written is dropped.
 * Logging must never decide the worker's life: a write to a pipe whose reader
 * exited (EPIPE), a full disk (ENOSPC) or a closed descriptor fails later, as
 * an `error` event on the stream, which would otherwise be an uncaught
 * exception, hence an internal error and a stopped worker. Node writes to a
 * pipe without blocking and queues what the pipe does not take: past
 * MAX_PENDING_BYTES queued, lines are dropped rather than queued.
 */
export function writeStderr(text: string): void {
  try {
    const stderr = process.stderr;
    if (!errorsIgnored) {
      stderr.on("error", () => {});
      errorsIgnored = true;
    }
    if (stderr.destroyed || stderr.writableLength > MAX_PENDING_BYTES) return;
    stderr.write(text);
  } catch {
    /* nothing left to tell */
  }
}

/** A logger at the given level; errors are written at every level but `silent`. */
export function createLogger(level: LogLevel): Logger {
  const write = (event: string, fields: Fields) => writeStderr(formatLine(event, fields));
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
