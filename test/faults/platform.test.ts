import assert from "node:assert/strict";
import { chmodSync, copyFileSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { dockerStop, killLeftovers, runJobguard, tempDir } from "../support/jobguard.js";
import { prerequisite, rootSkipReason, unshareSkipReason } from "../support/prerequisites.js";

// A platform jobguard cannot supervise on (no /proc), and a worker it may not
// signal (EPERM, rule 11).

after(killLeftovers);

test("without a readable /proc jobguard refuses to start: one sentence, exit 2", async (t) => {
  if (!prerequisite(t, "JOBGUARD_REQUIRE_UNSHARE", unshareSkipReason())) return;
  const marker = join(tempDir(), "started");
  const run = runJobguard(
    ["--", "touch", marker],
    {},
    { wrapper: ["unshare", "-m", "sh", "-c", 'mount -t tmpfs none /proc && exec "$@"', "sh"] },
  );
  const exit = await run.exited;
  assert.equal(exit.code, 2);
  assert.equal(
    run.stderr(),
    "jobguard: cannot supervise here: there is no readable /proc (Linux procfs), where jobguard finds the worker tree\n",
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
