import type { Client } from "../../postgres/client.js";

/** Lists the registered lockers, marking those whose session is gone. */
export async function checkQueLockers(
  client: Client,
  lockers: string,
  out: (line: string) => void,
): Promise<number> {
  const result = await client.query<{
    ruby_hostname: string;
    ruby_pid: number;
    pid: number;
    alive: boolean;
  }>(
    `SELECT l.ruby_hostname, l.ruby_pid, l.pid, EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = l.pid) AS alive
       FROM ${lockers} l ORDER BY l.ruby_hostname, l.ruby_pid`,
  );
  out(result.rows.length ? "Que lockers:" : "no Que lockers registered");
  for (const r of result.rows)
    out(`  host:${r.ruby_hostname} pid:${r.ruby_pid}: backend ${r.pid}${r.alive ? "" : " (session gone)"}`);
  return 0;
}
