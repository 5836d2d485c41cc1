import { setTimeout as sleep } from "node:timers/promises";
import { now } from "../clock.js";
import type { Logger } from "../log.js";
import { signal, stillOurs } from "../process-tree/signal.js";
import { EXIT, statusCode, type ExitStatus } from "./exit.js";
import type { Shutdown } from "./shutdown.js";
import type { Worker } from "./start-worker.js";

/**
 * What jobguard cannot do where there is no /proc (macOS, for development),
 * said once in its `started` line: the worker's process group is all it sees.
 */
export const WITHOUT_PROC =
  "no /proc: only the worker's process group is killed at the deadline; descendants that left it, leftovers after the worker's exit and jobguard's own death go unwatched, and nothing is released";

/**
 * A plain supervisor, for a system without /proc: the signals are relayed and
 * the escalation runs as anywhere (they need nothing but kill(2)); at the
 * deadline the worker's process group is SIGKILLed, which is safe while the
 * worker is not reaped, since its pid is then the group's. Resolves with the
 * exit status once the worker has exited, or once exit-by comes after a kill
 * that did not take.
 */
export async function superviseWithoutProc(worker: Worker, shutdown: Shutdown, log: Logger): Promise<number> {
  let killed = false;
  const exitBy = shutdown.deadline.then(async () => {
    killed = stillOurs(worker.child) && "sent" in signal(-worker.child.pid, "SIGKILL");
    log.info("deadline_exceeded", {
      deadline: shutdown.timing.deadlineMs / 1000,
      killed: killed ? worker.child.pid : "",
    });
    await sleep(Math.max(0, shutdown.exitBy - now()));
  });
  const status: ExitStatus | undefined = await Promise.race([worker.exited, exitBy.then(() => undefined)]);
  shutdown.done();
  if (!status) {
    log.error("tree_survived", "the worker survived SIGKILL", { pids: worker.child.pid });
    return EXIT.JOBGUARD_FAILED;
  }
  if (shutdown.failed) return EXIT.JOBGUARD_FAILED;
  return killed ? EXIT.KILLED_AT_DEADLINE : statusCode(status);
}
