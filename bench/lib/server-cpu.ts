import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

// CPU time from /proc, in clock ticks: of a PostgreSQL server on this machine,
// of single processes, and of the machine's CPUs.

/** Milliseconds per clock tick (USER_HZ). */
export function clockTickMs(): number {
  const r = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" });
  const hz = Number(r.stdout?.trim());
  return 1000 / (Number.isFinite(hz) && hz > 0 ? hz : 100);
}

/** utime+stime of a process, and cutime+cstime of its reaped children, in ticks; with its ppid and name. */
function procTicks(pid: number): { own: number; reaped: number; ppid: number; comm: string } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "latin1");
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    const comm = text.slice(text.indexOf("(") + 1, text.lastIndexOf(")"));
    return {
      ppid: Number(fields[1]),
      own: Number(fields[11]) + Number(fields[12]),
      reaped: Number(fields[13]) + Number(fields[14]),
      comm,
    };
  } catch {
    return undefined;
  }
}

/** The ticks the processes have used themselves (utime + stime); 0 for one that is gone. */
export function processTicks(pids: readonly number[]): number {
  return pids.reduce((total, pid) => total + (procTicks(pid)?.own ?? 0), 0);
}

/** Busy and total ticks of all CPUs since boot (/proc/stat). */
export function machineTicks(): [number, number] {
  try {
    const [user, nice, system, idle, iowait, irq, softirq, steal] = readFileSync("/proc/stat", "latin1")
      .split("\n")[0]!
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    const busy = user! + nice! + system! + irq! + softirq! + steal!;
    return [busy, busy + idle! + iowait!];
  } catch {
    return [NaN, NaN];
  }
}

/** The postmaster of a backend, if that backend runs on this machine. */
export function postmasterOf(backend: number): number | undefined {
  const b = procTicks(backend);
  if (!b || !b.comm.startsWith("postgres")) return undefined;
  const pm = procTicks(b.ppid);
  return pm && pm.comm.startsWith("postgres") ? b.ppid : undefined;
}

/** CPU ticks of the whole server: the postmaster, its children, and the children it has reaped. */
export function serverTicks(postmaster: number): number {
  const pm = procTicks(postmaster);
  let total = pm ? pm.own + pm.reaped : 0;
  for (const name of readdirSync("/proc")) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const p = procTicks(pid);
    if (p && p.ppid === postmaster) total += p.own;
  }
  return total;
}
