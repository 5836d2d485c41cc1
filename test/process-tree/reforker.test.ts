import assert from "node:assert/strict";
import { after, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { processesWithEnv } from "../../tools/processes.js";
import { fixture, killLeftovers, runJobguard } from "../support/jobguard.js";
import { waitFor } from "../support/wait.js";

// The kill finds what runs (issue 15, item 5): a worker whose descendant forks
// again and again, each generation in a session of its own and gone a moment
// later, is killed whole: jobguard freezes the tree (SIGSTOP, read again until
// nothing new shows) before it kills it. Without the freeze, a generation born
// between the read of /proc and the kill escaped in most runs, while jobguard
// reported tree_gone and exit 124.

after(killLeftovers);

const REFORKER = fixture("reforker.sh");
// The worker: ignores SIGTERM, starts the re-forker outside its process group, waits.
const WORKER = `trap '' TERM; setsid -f ${REFORKER}; while :; do sleep 1; done`;

/** Kills every generation carrying the tag until none is left; returns how many were found alive. */
async function sweep(tag: string): Promise<number> {
  let found = 0;
  for (let quiet = 0; quiet < 5;) {
    const alive = processesWithEnv("REFORK_TAG", tag);
    quiet = alive.length === 0 ? quiet + 1 : 0;
    found += alive.length;
    for (const pid of alive) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        /* gone */
      }
    }
    await sleep(5);
  }
  return found;
}

for (const delay of ["0", "0.005", "0.01"]) {
  test(`a descendant that re-forks into a new session every ${delay} s is killed with the tree, five runs of five`, async () => {
    for (let run = 0; run < 5; run++) {
      const tag = `${process.pid}-${delay}-${run}`;
      const jobguard = runJobguard(["--deadline", "0.5", "--grace", "2", "--", "sh", "-c", WORKER], {
        DELAY: delay,
        REFORK_TAG: tag,
      });
      await waitFor(() => processesWithEnv("REFORK_TAG", tag).length >= 2, { what: "the re-forker" });
      jobguard.child.kill("SIGTERM");
      const exit = await jobguard.exited;
      assert.equal(exit.code, 124, jobguard.stderr());
      assert.match(jobguard.stderr(), /event=tree_gone /);
      // Whatever escaped would keep re-forking: give it time to show.
      await sleep(300);
      assert.equal(await sweep(tag), 0, `run ${run}: generations of the re-forker outlived jobguard`);
    }
  });
}
