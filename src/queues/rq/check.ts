import type { RedisCommands } from "../../redis/connection.js";
import type { CheckHost } from "../adapter.js";
import { rqWorkers } from "./workers.js";

/** Lists the jobs in flight by RQ worker, and marks those of this host's gone processes. */
export async function checkRq(
  redis: RedisCommands,
  out: (line: string) => void,
  host: CheckHost,
): Promise<number> {
  const workers = await rqWorkers(redis);
  out(workers.length ? "RQ workers and their jobs in StartedJobRegistries:" : "no RQ workers registered");
  let gone = 0;
  for (const w of workers) {
    const dead = w.hostname === host.name && !host.isRunning(w.pid);
    if (dead && w.jobs.length > 0) gone++;
    const jobs = w.jobs.map((j) => `${j.id}@${j.queue}`).join(",") || "none";
    const beat = w.lastHeartbeatMs
      ? `last heartbeat ${new Date(w.lastHeartbeatMs).toISOString()}`
      : "no heartbeat";
    const mark = dead ? "  <- no such process on this host: its jobs wait for a release" : "";
    out(`  ${w.name} (${w.hostname} pid ${w.pid}): ${w.jobs.length} in flight (${jobs}), ${beat}${mark}`);
  }
  if (gone) out(`error: ${gone} RQ worker(s) of this host are gone with jobs in flight`);
  return gone;
}
