import { StatementMisfit } from "../../db/prepare.js";
import type { QueueAdapter } from "../adapter.js";
import { workerNames } from "../worker-names.js";
import { prepareCustomRelease, runCustomRelease } from "./release.js";

/** Your own queue: JOBGUARD_RELEASE_SQL, run with the dead worker's host, pids and delayed_job-style names. */
export function customSql(releaseSql: string): QueueAdapter {
  return {
    prepare: (client) => prepareCustomRelease(client, releaseSql),

    release(client, worker) {
      // The user's statement cannot tell a dead worker's locks from those of a
      // newer process that took its pid: those pids are left out.
      const pids = worker.dead.filter((d) => d.reusedSince === undefined).map((d) => d.pid);
      return runCustomRelease(client, releaseSql, worker.host, pids, workerNames(worker.host, pids));
    },

    // Your statement names its own tables: preparing it finds a missing one.
    tables: [],

    async check(client, out) {
      try {
        await prepareCustomRelease(client, releaseSql);
      } catch (error) {
        if (!(error instanceof StatementMisfit)) throw error;
        out(`error: JOBGUARD_RELEASE_SQL does not fit: ${error.message}`);
        return 1;
      }
      out("release statement: prepared without error (not run)");
      return 0;
    },
  };
}
