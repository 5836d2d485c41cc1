import { quoteTable } from "../../db/sql.js";
import type { QueueAdapter } from "../adapter.js";
import { checkQueLockers } from "./check.js";
import { lockerSessions } from "./release.js";

/**
 * Que 2.x: a job is locked by an advisory lock (pg_try_advisory_lock(id)) of
 * the locker's connection, dropped when that session ends. The locker sets
 * its own application_name ("Que Locker: <backend pid>"), which hides
 * jobguard's tag, so its session is found through que_lockers, where it
 * registers its backend pid with ruby_hostname and ruby_pid. Ending it is the
 * whole release.
 */
export function que(table: readonly string[]): QueueAdapter {
  const lockers = quoteTable(table);
  return {
    sessions: (client, worker) => lockerSessions(client, lockers, worker),
    release: () => Promise.resolve({ count: 0, ids: [] }),
    check: (client, out) => checkQueLockers(client, lockers, out),
    tables: [{ table: lockers, what: "Que's lockers table", privileges: ["SELECT"] }],
  };
}
