import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { killLeftovers, runJobguard } from "../support/jobguard.js";
import { descendantsOf, isAlive, parentOf, readPids, waitGone } from "../../tools/processes.js";
import { files, ready, SHELL_WORKER, terms } from "../support/shell-worker.js";

// The /bin/sh watchdog, when jobguard itself is killed: it keeps the deadline
// jobguard had started, and a kill of jobguard's process group does not take
// it along.

after(killLeftovers);

test("jobguard SIGKILLed late in the deadline: the watchdog keeps that deadline, and the tree is gone before the grace", async () => {
  const f = files();
  const run = runJobguard(["--deadline", "3", "--grace", "5", "--", SHELL_WORKER], {
    EVENTS: f.events,
    PIDS: f.pids,
    ON_TERM: "ignore",
    SPAWN: "setsid",
  });
  await ready(f.events);
  await sleep(200); // the descendant writes its pid as it starts
  const pids = readPids(f.pids);
  assert.equal(pids.length, 2);
  const signalledAt = Date.now();
  run.child.kill("SIGTERM");
  await run.waitFor(/event=signal signal=SIGTERM forwarded=true/);
  // Half a second before the deadline: a fresh one from here would end 5.5 s after the SIGTERM.
  await sleep(Math.max(0, signalledAt + 2500 - Date.now()));
  run.child.kill("SIGKILL");
  await run.exited;
  assert.deepEqual(await waitGone(pids, 6000), [], "the tree outlived jobguard's watchdog");
  const goneAfter = Date.now() - signalledAt;
  assert.ok(
    goneAfter >= 2900,
    `the watchdog killed the tree ${goneAfter} ms after the SIGTERM, before the deadline`,
  );
  assert.ok(goneAfter < 4800, `the tree was gone ${goneAfter} ms after the SIGTERM: past the 5 s grace`);
  assert.equal(terms(f.events), 1, "the watchdog sent a second SIGTERM");
});

/** A process's session id (the sixth field of /proc/<pid>/stat). */
function sessionOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[3]);
}

test("jobguard's process group SIGKILLed, as foreman and honcho do at their timeout: the watchdog, in a session of its own, lives on, stops the worker and ends with the tree", async () => {
  const f = files();
  // setsid makes jobguard lead a session and a process group of its own, as foreman starts each process.
  const run = runJobguard(
    ["--deadline", "2", "--grace", "4", "--", SHELL_WORKER],
    { EVENTS: f.events, PIDS: f.pids, ON_TERM: "ignore" },
    { wrapper: ["setsid"] },
  );
  const worker = Number(/child=(\d+)/.exec(await run.waitFor(/event=started/))![1]);
  await ready(f.events);
  const watchdogs = descendantsOf(run.pid).filter((pid) => parentOf(pid) === run.pid && pid !== worker);
  assert.equal(watchdogs.length, 1, "expected the worker and the watchdog as jobguard's children");
  const watchdog = watchdogs[0]!;
  assert.equal(
    sessionOf(run.pid),
    run.pid,
    "jobguard does not lead a session of its own: the test proves nothing",
  );
  assert.equal(sessionOf(watchdog), watchdog, "the watchdog shares jobguard's session");
  // The platform's signals, as Heroku sends them to every process of a dyno.
  for (const signal of ["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"] as const)
    process.kill(watchdog, signal);
  await sleep(300);
  assert.ok(isAlive(watchdog), "a platform signal killed the watchdog");
  assert.equal(terms(f.events), 0);

  process.kill(-run.pid, "SIGKILL");
  await run.exited;
  for (let i = 0; i < 300 && terms(f.events) === 0; i++) await sleep(10);
  assert.equal(terms(f.events), 1, "the worker was not told to stop");
  assert.deepEqual(await waitGone(readPids(f.pids), 4000), [], "the worker outlived jobguard's watchdog");
  assert.deepEqual(await waitGone([watchdog], 2000), [], "the watchdog outlived the tree");
});
