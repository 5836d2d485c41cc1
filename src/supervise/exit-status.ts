import { constants } from "node:os";
import { EXIT } from "../exit-codes.js";
import type { ExitStatus } from "./start-worker.js";

/** The shell's convention: the exit code, or 128 + the number of the signal that killed the worker. */
export function statusCode(status: ExitStatus): number {
  if (status.signal) return 128 + constants.signals[status.signal];
  // Node reports neither only for a process it could not wait for: jobguard cannot vouch for it.
  return status.code ?? EXIT.CLEANUP_FAILED;
}

/** True for a worker that did not crash: it exited 0, or died of SIGTERM or SIGINT, as one asked to stop does. */
export function endedWithoutCrash(status: ExitStatus): boolean {
  const code = statusCode(status);
  return code === 0 || code === 128 + constants.signals.SIGTERM || code === 128 + constants.signals.SIGINT;
}
