import { EXIT } from "../exit-codes.js";
import type { Logger } from "../log.js";

/** What is done with an error nobody caught; replaced once there is a worker to stop. */
export type InternalErrorHandler = (error: unknown) => void;

// A callback that throws on every tick must not flood the platform's log.
const MAX_LOGGED = 5;

/**
 * Every error jobguard did not foresee: a throw in a callback, a promise
 * rejected with nobody waiting, a bug. Node's default is to print the stack and
 * exit at once, which leaves the worker running with nobody to stop it, kill it
 * at the deadline or release its locks. Here each one becomes one
 * `event=internal_error` line (without the database's secrets) and goes to the
 * current handler: before the worker exists, exit without starting anything;
 * once it runs, the supervisor's shutdown.
 */
export class InternalErrors {
  private logged = 0;
  private handler: InternalErrorHandler;

  constructor(
    private log: Logger,
    private readonly secrets: () => string[],
  ) {
    // Nothing started yet: nothing to stop either.
    this.handler = () => process.exit(EXIT.CLEANUP_FAILED);
    process.on("uncaughtException", (error) => this.handle(error));
    process.on("unhandledRejection", (reason) => this.handle(reason));
  }

  /** Logs at the level the configuration chose, once it is known. */
  useLogger(log: Logger): void {
    this.log = log;
  }

  /** From now on, `handler` deals with every internal error. */
  handleWith(handler: InternalErrorHandler): void {
    this.handler = handler;
  }

  /** Logs the error and hands it to the current handler; never throws. */
  handle(error: unknown): void {
    try {
      if (++this.logged <= MAX_LOGGED) {
        const { message, at } = describe(error, this.secrets());
        this.log.error("internal_error", message, { at, more: this.logged === MAX_LOGGED ? "not-logged" : undefined });
      }
    } catch {
      /* the line is lost; the handling below is what matters */
    }
    this.handler(error);
  }
}

/** "TypeError: message" and the first stack frame, with every secret replaced by ***. */
function describe(error: unknown, secrets: string[]): { message: string; at: string | undefined } {
  let message: string;
  try {
    message = error instanceof Error ? `${error.name}: ${error.message}` : `non-error thrown: ${String(error)}`;
  } catch {
    message = "an error that cannot be printed";
  }
  const frame = error instanceof Error ? /^\s+at (.*)$/m.exec(error.stack ?? "")?.[1] : undefined;
  let at = frame;
  for (const secret of secrets) {
    if (!secret) continue;
    message = message.split(secret).join("***");
    at = at?.split(secret).join("***");
  }
  return { message, at };
}

/** The strings no log line may hold for these database URLs: each URL and its password, raw and decoded. */
export function secretsOf(urls: Array<string | undefined>): string[] {
  const secrets: string[] = [];
  for (const url of urls) {
    if (!url) continue;
    secrets.push(url);
    let password = "";
    try {
      password = new URL(url).password;
    } catch {
      // Not a URL: the whole string, above, is all there is to hide.
    }
    if (!password) continue;
    secrets.push(password);
    try {
      secrets.push(decodeURIComponent(password));
    } catch {
      // A malformed %-escape: the raw form, above, is what would be printed.
    }
  }
  // Longest first, so that the URL goes as a whole before its password is cut out of it.
  return secrets.sort((a, b) => b.length - a.length);
}
