import assert from "node:assert/strict";
import { after, test } from "node:test";
import { killLeftovers, runJobguard, type Run } from "../support/jobguard.js";
import { eventCount, events, files, ready, SHELL_WORKER } from "../support/shell-worker.js";

// Logging is best effort (issue 15, item 1): a log line that cannot be written
// (the reader of stderr's pipe has gone, the disk is full) is dropped, and the
// worker runs on as if nothing had happened; jobguard exits as it would have.

after(killLeftovers);

/**
 * With the log unwritable: a SIGHUP (jobguard logs it, and the write fails),
 * then a SIGUSR1 once the worker has heard the SIGHUP, by when the failed
 * write has been reported to jobguard; the worker must have heard both and
 * no SIGTERM. Then a SIGTERM: the worker exits 0, and so does jobguard.
 */
async function survivesUnwritableLog(run: Run, eventsFile: string): Promise<void> {
  run.child.kill("SIGHUP");
  await eventCount(eventsFile, 2);
  run.child.kill("SIGUSR1");
  await eventCount(eventsFile, 3);
  assert.deepEqual(events(eventsFile), ["READY", "HUP", "USR1"], "the worker was told to stop");
  run.child.kill("SIGTERM");
  const exit = await run.exited;
  assert.equal(exit.code, 0);
  assert.deepEqual(events(eventsFile), ["READY", "HUP", "USR1", "TERM"]);
}

test("stderr's reader exits (a log collector restarting): the worker runs on, and jobguard exits with the worker's status", async () => {
  const f = files();
  const run = runJobguard(["--deadline", "5", "--grace", "8", "--", SHELL_WORKER], { EVENTS: f.events });
  await ready(f.events);
  await run.waitFor(/event=started /);
  // Closing the test's end of the pipe: jobguard's next write fails with EPIPE.
  run.child.stderr!.destroy();
  await survivesUnwritableLog(run, f.events);
});

test("stderr on a full disk (/dev/full): the worker runs on, and jobguard exits with the worker's status", async () => {
  const f = files();
  const run = runJobguard(
    ["--deadline", "5", "--grace", "8", "--", SHELL_WORKER],
    { EVENTS: f.events },
    { wrapper: ["sh", "-c", 'exec "$@" 2>/dev/full', "sh"] },
  );
  await ready(f.events);
  await survivesUnwritableLog(run, f.events);
});

test("stderr on a full disk through a whole shutdown: the worker that ignores SIGTERM is killed at the deadline, exit 124", async () => {
  const f = files();
  const run = runJobguard(
    ["--deadline", "1", "--grace", "3", "--", SHELL_WORKER],
    { EVENTS: f.events, ON_TERM: "ignore", SPAWN: "setsid" },
    { wrapper: ["sh", "-c", 'exec "$@" 2>/dev/full', "sh"] },
  );
  await ready(f.events);
  run.child.kill("SIGTERM");
  const exit = await run.exited;
  // Every line of the shutdown (signal, deadline_exceeded, tree_gone, exit) was lost: the outcome was not.
  assert.equal(exit.code, 124);
});
