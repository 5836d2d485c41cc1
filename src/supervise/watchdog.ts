import { spawn, type ChildProcess } from "node:child_process";
import { now } from "../clock.js";
import type { Logger } from "../log.js";
import { uptimeSeconds } from "../process-tree/proc.js";
import type { TreeIdentity } from "../process-tree/tree.js";
import type { Shutdown } from "./shutdown.js";

/**
 * What stops the worker tree if jobguard dies without a word (SIGKILLed alone,
 * a crash of Node itself): a /bin/sh holding the read end of a pipe whose
 * write end only jobguard holds. The kernel closes that end when jobguard dies,
 * however it dies, and the shell's `read` sees the end of the file. Then it does
 * what jobguard would have done: SIGTERM to the worker and the deadline, then
 * SIGKILL to the worker's process group and to every process carrying the
 * tree's marker. Once jobguard has written `asked <deadline>` (a shutdown
 * request reached the worker already, and it hears no other), it keeps that
 * deadline: the tree must be gone before the platform's grace period ends,
 * however late in the deadline jobguard died, so a fresh deadline would be too
 * late. Once jobguard has written `exited` (the worker itself is gone, and its
 * pid may be a stranger's soon), only the marker names the tree. It ignores the
 * platform's signals (Heroku signals every process of a dyno), and runs in a
 * session of its own, so that a kill of jobguard's process group (foreman and
 * honcho SIGKILL the group at their timeout) does not take it along; jobguard
 * kills it once the tree is gone.
 *
 * Its clock is /proc/uptime, in centiseconds since boot, which does not step
 * when the wall clock is set, and which the shell's own `read` can take without
 * starting a process. A shell costs about 1 MiB while it waits in `read`; a
 * second Node process would cost 40. It cannot release locks: the lease, no
 * longer renewed, goes stale and another dyno's sweep releases them once the
 * worker's sessions end.
 *
 * Arguments: $1 the worker's pid (its process group), $2 the deadline in
 * centiseconds, $3 the tree's marker.
 */
const SCRIPT = `
trap '' TERM INT HUP QUIT USR1 USR2 PIPE
asked= exited= until=
while read -r line; do
  case $line in "asked "*) asked=1 until=\${line#asked } ;; exited) exited=1 ;; esac
done
now() { read -r t _ </proc/uptime; cs=$(( \${t%.*} * 100 + 1\${t#*.} - 100 )); }
if [ -z "$exited" ]; then
  now
  [ -n "$asked" ] || { kill -TERM "$1" 2>/dev/null; until=$(( cs + $2 )); }
  while now; [ "$cs" -lt "$until" ] && kill -0 "-$1" 2>/dev/null; do
    left=$(( until - cs ))
    if [ "$left" -ge 100 ]; then sleep 1; else sleep "0.$(( left / 10 ))$(( left % 10 ))"; fi
  done
  kill -KILL "-$1" 2>/dev/null
fi
grep -l -a -F -e "$3" /proc/[0-9]*/environ 2>/dev/null | while read -r f; do p=\${f#/proc/}; kill -KILL "\${p%/environ}" 2>/dev/null; done
`;

/**
 * Starts the watchdog over a started worker tree, until jobguard is done with
 * it; logs once and carries on if /bin/sh cannot be started. It hears of the
 * shutdown's request to stop and of the worker's exit (`exited`) as they come.
 */
export function startWatchdog(
  tree: TreeIdentity,
  exited: Promise<unknown>,
  shutdown: Shutdown,
  log: Logger,
): void {
  const args = [
    "-c",
    SCRIPT,
    "jobguard-watchdog",
    String(tree.rootPid),
    String(Math.ceil(shutdown.timing.deadlineMs / 10)),
    tree.marker,
  ];
  let shell: ChildProcess | undefined = spawn("/bin/sh", args, {
    stdio: ["pipe", "ignore", "ignore"],
    detached: true,
  });
  shell.once("error", (error) => {
    log.error(
      "watchdog_unavailable",
      `no watchdog: ${error.message}; if jobguard is killed alone, the worker runs on`,
    );
    shell = undefined;
  });
  // A watchdog that died (someone SIGKILLed it) must not take jobguard with it.
  shell.stdin!.on("error", () => {});
  shell.unref();
  (shell.stdin as unknown as { unref(): void }).unref();
  const tell = (line: string) => shell?.stdin!.write(`${line}\n`);
  // The worker itself is gone: its pid no longer names it.
  void exited.then(() => tell("exited"));
  shutdown.subscribe({
    // A request to stop has reached the worker: the watchdog must not send another, and keeps this deadline.
    requested: () => tell(`asked ${uptimeCentiseconds(shutdown.deadlineAt ?? now())}`),
    done() {
      // jobguard has not reaped its child yet, so the pid still names this shell.
      shell?.kill("SIGKILL");
      shell = undefined;
    },
  });
}

/** A time on jobguard's monotonic clock as the watchdog's clock tells it: centiseconds since boot. */
function uptimeCentiseconds(at: number): number {
  return Math.ceil(uptimeSeconds() * 100 + (at - now()) / 10);
}
