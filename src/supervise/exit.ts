import { constants } from "node:os";

/** How the worker process ended: an exit code or the signal that killed it. */
export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** jobguard's own exit statuses; otherwise it exits with the worker's status, or 128 + the signal that killed it. */
export const EXIT = {
  OK: 0,
  /** A bad option or environment variable, or no /proc to supervise with: nothing was started. */
  USAGE: 2,
  /** The worker outlived the deadline and its tree was killed (its locks released, with a queue). */
  KILLED_AT_DEADLINE: 124,
  /**
   * jobguard failed, as timeout(1)'s 125 says: the tree would not die or refused a
   * signal, its locks could not be released, or an internal error ended the run.
   */
  JOBGUARD_FAILED: 125,
  /** The command exists but cannot be executed. */
  NOT_EXECUTABLE: 126,
  /** The command was not found. */
  NOT_FOUND: 127,
} as const;

/** The shell's convention: the exit code, or 128 + the number of the signal that killed the worker. */
export function statusCode(status: ExitStatus): number {
  if (status.signal) return 128 + constants.signals[status.signal];
  // Node reports neither only for a process it could not wait for: jobguard cannot vouch for it.
  return status.code ?? EXIT.JOBGUARD_FAILED;
}

/** True for a worker that did not crash: it exited 0, or died of SIGTERM or SIGINT, as one asked to stop does. */
export function endedWithoutCrash(status: ExitStatus): boolean {
  const code = statusCode(status);
  return code === 0 || code === 128 + constants.signals.SIGTERM || code === 128 + constants.signals.SIGINT;
}
