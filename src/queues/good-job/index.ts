import type { QueueAdapter } from "../adapter.js";

/**
 * GoodJob with its default lock strategy (`advisory`): a job is locked by a
 * session-level advisory lock of the worker's connection, which PostgreSQL
 * drops when that session ends. Ending the dead worker's tagged sessions,
 * which the release does for every queue, is the whole release; GoodJob then
 * runs the job again (recording the interrupted run). `locked_by_id` is
 * informational under this strategy. (The `skiplocked` strategy of GoodJob
 * 4.15+ is not covered.)
 */
export function goodJob(): QueueAdapter {
  return {
    release: () => Promise.resolve({ count: 0, ids: [] }),
    check(_client, out) {
      out(
        "GoodJob (advisory locks): the release ends the dead worker's tagged sessions, and their advisory locks with them",
      );
      return Promise.resolve(0);
    },
    // The release reads no table, but a database without GoodJob's is the wrong one.
    tables: [{ table: '"good_jobs"', what: "GoodJob's jobs table", privileges: [] }],
  };
}
