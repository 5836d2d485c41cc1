import type { RedisCommands } from "../../redis/connection.js";

// What Sidekiq keeps in Redis of its processes (lib/sidekiq/launcher.rb, 6.4
// and 7.x): the set `processes` of identities ("hostname:pid:nonce", the
// hostname being $DYNO or the host's); per identity a hash with `info`, a
// JSON naming hostname, pid and started_at, and `beat`; and the hash of its
// jobs in flight, thread id -> JSON {queue, payload, run_at}, named
// "<identity>:workers" in 6.4 and "<identity>:work" in 7. Sidekiq rewrites
// both at each heartbeat (every 5 s in 6.4, 10 s in 7) and lets them expire
// 60 s after the last one.

/** One job in flight, as the process's last heartbeat wrote it. */
export interface InFlight {
  /** The thread's id: the field of the work hash. */
  tid: string;
  /** The field's value as written: the release moves the job only while it is still this. */
  raw: string;
  queue: string;
  /** The job as Sidekiq pushed it, a JSON string, put back as it is. */
  payload: string;
  jid: string;
}

/** One Sidekiq process registered in Redis. */
export interface SidekiqProcess {
  identity: string;
  hostname: string;
  pid: number;
  /** When the process started (Date.now() terms), where its info says. */
  startedAtMs?: number;
  /** Its last heartbeat (Date.now() terms); none once its key has expired. */
  beatMs?: number;
  /** The work hash that exists, or the 6.4 name when neither does. */
  workKey: string;
  work: InFlight[];
}

/** Every process in the `processes` set, with its jobs in flight. */
export async function sidekiqProcesses(redis: RedisCommands): Promise<SidekiqProcess[]> {
  const identities = (await redis.call("SMEMBERS", "processes")) as string[];
  const processes: SidekiqProcess[] = [];
  for (const identity of identities.sort()) {
    const [info, beat] = (await redis.call("HMGET", identity, "info", "beat")) as Array<string | null>;
    const named = nameOf(identity, info ?? null);
    if (!named) continue;
    let workKey = `${identity}:workers`;
    let fields = (await redis.call("HGETALL", workKey)) as string[];
    if (fields.length === 0) {
      const seven = (await redis.call("HGETALL", `${identity}:work`)) as string[];
      if (seven.length > 0) [workKey, fields] = [`${identity}:work`, seven];
    }
    const work: InFlight[] = [];
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const job = inFlight(fields[i]!, fields[i + 1]!);
      if (job) work.push(job);
    }
    processes.push({ identity, ...named, beatMs: beat ? Number(beat) * 1000 : undefined, workKey, work });
  }
  return processes;
}

/** Host, pid and start from the info JSON; from the identity itself once the info has expired. */
function nameOf(
  identity: string,
  info: string | null,
): { hostname: string; pid: number; startedAtMs?: number } | undefined {
  if (info) {
    try {
      const data = JSON.parse(info) as { hostname?: unknown; pid?: unknown; started_at?: unknown };
      if (typeof data.hostname === "string" && typeof data.pid === "number") {
        const started = typeof data.started_at === "number" ? data.started_at * 1000 : undefined;
        return { hostname: data.hostname, pid: data.pid, startedAtMs: started };
      }
    } catch {
      /* not Sidekiq's: read the identity */
    }
  }
  const match = /^(.*):(\d+):[0-9a-f]+$/.exec(identity);
  return match ? { hostname: match[1]!, pid: Number(match[2]) } : undefined;
}

function inFlight(tid: string, raw: string): InFlight | undefined {
  try {
    const entry = JSON.parse(raw) as { queue?: unknown; payload?: unknown };
    // 6.4 and 7 write the payload as the JSON string Sidekiq fetched; a hash is re-serialized.
    const payload = typeof entry.payload === "string" ? entry.payload : JSON.stringify(entry.payload);
    const job = JSON.parse(payload) as { jid?: unknown; queue?: unknown };
    const queue = typeof entry.queue === "string" ? entry.queue : job.queue;
    if (typeof queue !== "string" || typeof job.jid !== "string") return undefined;
    return { tid, raw, queue: queue.replace(/^queue:/, ""), payload, jid: job.jid };
  } catch {
    return undefined;
  }
}
