// delayed_job's worker names without the optional prefix: "host:<Socket.gethostname>
// pid:<Process.pid>" (Delayed::Worker#name). The sql queue hands the same names
// to the user's statement.

/** The worker name of this pid on this host. */
export function workerName(host: string, pid: number): string {
  return `host:${host} pid:${pid}`;
}

/** The worker names of these pids on this host. */
export function workerNames(host: string, pids: readonly number[]): string[] {
  return pids.map((pid) => workerName(host, pid));
}
