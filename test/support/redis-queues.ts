import { DEBIAN_PYTHON, python, readEvents, redisCli, type JobEvent } from "./workers.js";
import { fixture } from "./jobguard.js";
import { waitFor } from "./wait.js";

// The real Sidekiq and RQ workers against one database of the local Redis,
// for the tests of src/queues/sidekiq and src/queues/rq. Each test file has a
// database of its own (4 to 9), emptied by each test.

export const REDIS_HOST_URL = "redis://127.0.0.1:6379";

/** `sidekiq` with the matrix's job, one thread, -t seconds. */
export function sidekiqCommand(timeoutS: number): string[] {
  return ["sidekiq", "-r", fixture("sidekiq/jobs.rb"), "-c", "1", "-t", String(timeoutS)];
}

/** Pushes SleepJob(jid, seconds) as Sidekiq's client does (LPUSH, the queue in `queues`). */
export function pushSidekiqJob(
  db: number,
  jid: string,
  seconds: number,
  redis: (...args: string[]) => string = (...args) => redisCli(db, ...args),
): void {
  const now = Date.now() / 1000;
  const job = {
    class: "SleepJob",
    args: [jid, seconds],
    jid,
    queue: "default",
    retry: true,
    created_at: now,
    enqueued_at: now,
  };
  redis("SADD", "queues", "default");
  redis("LPUSH", "queue:default", JSON.stringify(job));
}

/** Where a Sidekiq job is: queued, retry, dead, or missing. */
export function sidekiqState(db: number, jid: string): string {
  const has = (lines: string) => lines.includes(`"jid":"${jid}"`);
  if (has(redisCli(db, "LRANGE", "queue:default", "0", "-1"))) return "queued";
  if (has(redisCli(db, "ZRANGE", "retry", "0", "-1"))) return "retry";
  if (has(redisCli(db, "ZRANGE", "dead", "0", "-1"))) return "dead";
  return "missing";
}

/** Waits until a Sidekiq heartbeat has written the job into its process's work hash: only then can a release see it. */
export async function sidekiqBeatWith(db: number, jid: string): Promise<void> {
  await waitFor(
    () =>
      redisCli(db, "SMEMBERS", "processes")
        .split("\n")
        .filter(Boolean)
        .some((identity) => redisCli(db, "HVALS", `${identity}:workers`).includes(jid)),
    { timeoutMs: 30_000, what: `a Sidekiq heartbeat naming ${jid}` },
  );
}

/** The `rq worker` command on queue `jobguard` of this database. */
export function rqCommand(db: number): string[] {
  return [
    "rq",
    "worker",
    "--url",
    `${REDIS_HOST_URL}/${db}`,
    "--path",
    fixture("rq"),
    "--disable-job-desc-logging",
    "jobguard",
  ];
}

/** Enqueues sleep_job(label, seconds) with id `label` (test/fixtures/rq/enqueue.py); `retry` false: no RQ Retry. */
export function enqueueRq(db: number, label: string, seconds: number): void {
  python(fixture("rq/enqueue.py"), [`${REDIS_HOST_URL}/${db}`, label, String(seconds)]);
}

/** Where an RQ job is: queued, started, failed, scheduled, finished or missing. */
export function rqState(db: number, id: string): string {
  return python(fixture("rq/state.py"), [`${REDIS_HOST_URL}/${db}`, id]);
}

export { DEBIAN_PYTHON };

/** Waits for a job line in the JOB_EVENTS file. */
export async function jobEvent(
  file: string,
  event: JobEvent["event"],
  label: string,
  accept: (e: JobEvent) => boolean = () => true,
  timeoutMs = 40_000,
): Promise<JobEvent> {
  return waitFor(() => readEvents(file).find((e) => e.event === event && e.label === label && accept(e)), {
    timeoutMs,
    what: `"${event} ${label}"`,
  });
}
