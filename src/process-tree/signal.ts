import type { ChildProcess } from "node:child_process";

/**
 * What became of one signal. Only ESRCH ("no such process") means the process
 * is gone; any other error (EPERM: another user's process) is a refusal, and
 * the process lives on: a survivor, never a dead process whose locks may be
 * released (rule 11).
 */
export type Signalled = { sent: true } | { gone: true } | { refused: string };

/** Sends `name` to `pid` (a negative pid: its process group) and says what came of it; never throws. */
export function signal(pid: number, name: NodeJS.Signals): Signalled {
  try {
    process.kill(pid, name);
    return { sent: true };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "unknown";
    return code === "ESRCH" ? { gone: true } : { refused: code };
  }
}

/**
 * True while jobguard has not reaped its child: until then the child's pid
 * (and its process group id) names it and nobody else. Once it is reaped the
 * pid may be another process's by now, and the child is not signalled.
 */
export function stillOurs(child: ChildProcess): child is ChildProcess & { pid: number } {
  return child.pid !== undefined && child.exitCode === null && child.signalCode === null;
}
