import type { RedisCommands } from "../../redis/connection.js";
import type { CheckHost } from "../adapter.js";
import { sidekiqProcesses } from "./processes.js";

/** Lists the jobs in flight by Sidekiq process, and marks those of this host's gone processes. */
export async function checkSidekiq(
  redis: RedisCommands,
  out: (line: string) => void,
  host: CheckHost,
  sidekiqHost: string,
): Promise<number> {
  const processes = await sidekiqProcesses(redis);
  out(
    processes.length
      ? "Sidekiq processes and their jobs in flight (as of their last heartbeat):"
      : "no Sidekiq processes registered",
  );
  let gone = 0;
  for (const p of processes) {
    const dead = p.hostname === sidekiqHost && !host.isRunning(p.pid);
    if (dead && p.work.length > 0) gone++;
    const beat = p.beatMs ? `last beat ${new Date(p.beatMs).toISOString()}` : "no heartbeat key left";
    const jobs = p.work.map((j) => `${j.jid}@${j.queue}`).join(",") || "none";
    const mark = dead ? "  <- no such process on this host: its jobs are lost until released" : "";
    out(`  ${p.identity}: ${p.work.length} in flight (${jobs}), ${beat}${mark}`);
  }
  if (gone) out(`error: ${gone} Sidekiq process(es) of this host are gone with jobs in flight`);
  return gone;
}
