import assert from "node:assert/strict";
import { after, test } from "node:test";
import { killLeftovers, runJobguard } from "../support/jobguard.js";
import { eventCount, events, files, ready, SHELL_WORKER } from "../support/shell-worker.js";

// No signal ends jobguard by surprise (issue 15, item 4). The shutdown signals
// are tested in signals.test.ts; here the worker's commands (SIGHUP, SIGQUIT,
// SIGUSR1, SIGUSR2) reach it, and every other signal whose default action
// would end jobguard is logged and ignored, and reaches no worker (worker.sh
// has no trap for them: one passed on would end it).

after(killLeftovers);

const IGNORED = [
  "SIGALRM",
  "SIGVTALRM",
  "SIGPROF",
  "SIGXCPU",
  "SIGXFSZ",
  "SIGPWR",
  "SIGIO",
  "SIGSTKFLT",
  "SIGSYS",
  "SIGTRAP",
  "SIGABRT",
] as const;

// Those that are commands to a worker, passed on.
const RELAYED = ["SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"] as const;

test("each signal that would end jobguard by default is passed on or logged and ignored: jobguard and its worker run on", async () => {
  const f = files();
  const run = runJobguard(["--deadline", "5", "--grace", "8", "--", SHELL_WORKER], { EVENTS: f.events });
  await ready(f.events);
  for (const signal of IGNORED) {
    run.child.kill(signal);
    await run.waitFor(new RegExp(`event=signal signal=${signal} forwarded=false ignored=true$`));
  }
  // The worker heard none of them, and the ones that are commands to it reach it, each once.
  for (const [i, signal] of RELAYED.entries()) {
    run.child.kill(signal);
    await eventCount(f.events, i + 2);
  }
  assert.deepEqual(events(f.events), ["READY", "HUP", "QUIT", "USR1", "USR2"]);
  run.child.kill("SIGTERM");
  const exit = await run.exited;
  assert.equal(exit.code, 0);
  assert.doesNotMatch(run.stderr(), /internal_error/);
});
