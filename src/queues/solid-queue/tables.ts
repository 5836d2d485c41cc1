import { quoteTable } from "../../db/sql.js";

/** Solid Queue's tables that jobguard reads and writes, quoted, for a prefix ([schema, prefix] or [prefix]). */
export interface SolidQueueTables {
  jobs: string;
  processes: string;
  claimed: string;
  ready: string;
  failed: string;
  /** The jobs table's name as text: the key of its jobs in jobguard's rescue counts. */
  jobTable: string;
}

export function solidQueueTables(prefix: readonly string[]): SolidQueueTables {
  const schema = prefix.slice(0, -1);
  const name = (table: string) => quoteTable([...schema, `${prefix[prefix.length - 1]}${table}`]);
  return {
    jobs: name("jobs"),
    processes: name("processes"),
    claimed: name("claimed_executions"),
    ready: name("ready_executions"),
    failed: name("failed_executions"),
    jobTable: [...schema, `${prefix[prefix.length - 1]}jobs`].join("."),
  };
}
