import assert from "node:assert/strict";
import { chmodSync, copyFileSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { readPids, waitGone } from "../../tools/processes.js";
import { dockerStop, killLeftovers, runJobguard, tempDir } from "../support/jobguard.js";
import { prerequisite, rootSkipReason, unshareSkipReason } from "../support/prerequisites.js";
import { eventCount, files, ready, SHELL_WORKER, terms } from "../support/shell-worker.js";
import { waitFor } from "../support/wait.js";

// A platform without /proc (a plain supervisor there, issue 16 item 3), and a
// worker jobguard may not signal (EPERM, rule 11).

after(killLeftovers);

// /proc hidden from jobguard and its worker alone: a mount namespace of their own, a tmpfs over /proc.
const HIDE_PROC = ["unshare", "-m", "sh", "-c", 'mount -t tmpfs none /proc && exec "$@"', "sh"];

test("without /proc, a plain supervisor: the SIGTERM forwarded once, the worker's group killed at the deadline, exit 124", async (t) => {
  if (!prerequisite(t, "JOBGUARD_REQUIRE_UNSHARE", unshareSkipReason())) return;
  const f = files();
  const run = runJobguard(
    ["--deadline", "1", "--grace", "3", "--", SHELL_WORKER],
    { EVENTS: f.events, PIDS: f.pids, ON_TERM: "ignore", SPAWN: "child" },
    { wrapper: HIDE_PROC },
  );
  await ready(f.events);
  await eventCount(f.events, 1);
  const line = await run.waitFor(/event=started /);
  // Said once, in the started line: what it cannot do here.
  assert.match(
    line,
    / limits="no \/proc: only the worker's process group is killed at the deadline; .+nothing is released"$/,
  );
  await waitFor(() => readPids(f.pids).length === 2, { what: "the worker and its child" });
  const stop = await dockerStop(run, 3000);
  const exit = await run.exited;
  assert.equal(exit.code, 124, run.stderr());
  assert.equal(stop.sigkilledJobguard, false);
  assert.equal(terms(f.events), 1);
  assert.match(run.stderr(), /event=deadline_exceeded deadline=1 killed=\d+/);
  assert.deepEqual(await waitGone(readPids(f.pids), 500), [], "the worker's group outlived jobguard");
  assert.equal(run.stderr().match(/no \/proc/g)?.length, 1, "said more than once");
});

test("without /proc, a worker that exits on its own: jobguard exits with its status", async (t) => {
  if (!prerequisite(t, "JOBGUARD_REQUIRE_UNSHARE", unshareSkipReason())) return;
  const run = runJobguard(["--", "sh", "-c", "exit 3"], {}, { wrapper: HIDE_PROC });
  const exit = await run.exited;
  assert.equal(exit.code, 3, run.stderr());
  assert.match(run.stderr(), /^jobguard event=exit code=3$/m);
});

test("without /proc, a queue is refused: one sentence naming it, exit 2, nothing started", async (t) => {
  if (!prerequisite(t, "JOBGUARD_REQUIRE_UNSHARE", unshareSkipReason())) return;
  const marker = join(tempDir(), "started");
  const run = runJobguard(
    ["--", "touch", marker],
    { JOBGUARD_QUEUE: "delayed_job", DATABASE_URL: "postgres://h/db" },
    { wrapper: HIDE_PROC },
  );
  const exit = await run.exited;
  assert.equal(exit.code, 2);
  assert.equal(
    run.stderr(),
    "jobguard: JOBGUARD_QUEUE cannot be used here: there is no readable /proc (Linux procfs), where jobguard finds and records the worker tree, and no lock is released without that record\n",
  );
  assert.equal(existsSync(marker), false, "the worker was started");
});

test("a worker jobguard may not signal (EPERM) is not taken for dead: logged, a survivor, exit 125", async (t) => {
  if (!prerequisite(t, "JOBGUARD_REQUIRE_ROOT", rootSkipReason())) return;
  // jobguard runs as nobody; its worker makes itself root through a setuid copy of setpriv.
  const dir = tempDir();
  chmodSync(dir, 0o755);
  const asRoot = join(dir, "as-root");
  copyFileSync("/usr/bin/setpriv", asRoot);
  chmodSync(asRoot, 0o4755);
  const run = runJobguard(
    [
      "--deadline",
      "0.5",
      "--grace",
      "2",
      "--",
      asRoot,
      "--reuid=0",
      "--regid=0",
      "--clear-groups",
      "sleep",
      "1000",
    ],
    {},
    {
      wrapper: ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"],
    },
  );
  const child = Number(/child=(\d+)/.exec(await run.waitFor(/event=started/))![1]);
  // Until setpriv has made itself root, nobody may still signal it: wait for that.
  const isRoot = () => /^Uid:\t0\t0\t0\t0$/m.test(readFileSync(`/proc/${child}/status`, "utf8"));
  for (let i = 0; i < 500 && !isRoot(); i++) await sleep(10);
  assert.ok(isRoot(), "the worker did not become root");
  const stop = await dockerStop(run, 2000); // the platform's SIGKILL ends the root process afterwards
  const exit = await run.exited;
  assert.equal(exit.code, 125);
  assert.equal(stop.sigkilledJobguard, false);
  assert.match(
    run.stderr(),
    /event=signal_failed error="could not send SIGTERM to the worker" pid=\d+ code=EPERM/,
  );
  assert.match(run.stderr(), /event=signal signal=SIGTERM forwarded=false/);
  assert.match(
    run.stderr(),
    /event=signal_failed error="could not send SIGKILL to processes of the worker tree" pids=\d+:EPERM/,
  );
  assert.match(run.stderr(), /event=tree_survived /);
});
