import { EXIT } from "./exit.js";
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
    /** Takes the database's secrets out of a text. */
    private readonly redact: (text: string) => string,
  ) {
    // Nothing started yet: nothing to stop either.
    this.handler = () => process.exit(EXIT.JOBGUARD_FAILED);
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
        const { message, at } = describe(error, this.redact);
        this.log.error("internal_error", message, {
          at,
          further_errors: this.logged === MAX_LOGGED ? "not_logged" : undefined,
        });
      }
    } catch {
      /* the line is lost; the handling below is what matters */
    }
    try {
      this.handler(error);
    } catch {
      // Even the handling failed: exit rather than crash in a loop. If the
      // worker runs, the watchdog sees jobguard go and stops it.
      process.exit(EXIT.JOBGUARD_FAILED);
    }
  }
}

/** "TypeError: message" and the first stack frame, without secrets. */
function describe(
  error: unknown,
  redact: (text: string) => string,
): { message: string; at: string | undefined } {
  let message: string;
  try {
    message =
      error instanceof Error ? `${error.name}: ${error.message}` : `non-error thrown: ${String(error)}`;
  } catch {
    message = "an error that cannot be printed";
  }
  const at = error instanceof Error ? /^\s+at (.*)$/m.exec(error.stack ?? "")?.[1] : undefined;
  return { message: redact(message), at: at === undefined ? undefined : redact(at) };
}
