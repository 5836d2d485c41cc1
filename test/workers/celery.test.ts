import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { fixture, killLeftovers } from "../support/jobguard.js";
import { prerequisite } from "../support/prerequisites.js";
import {
  brokerSkipReason,
  commandSkipReason,
  DEBIAN_PYTHON,
  python,
  redisCli,
  rerunUntilFinished,
  restartDuringJob,
  type Delivery,
  type MatrixWorker,
} from "../support/workers.js";

// The Celery rows of the worker matrix (docs/workers.md): Debian's
// python3-celery 5.2, prefork pool, with RabbitMQ and with Redis as the broker,
// and the settings the doc recommends (tasks.py: acks_late,
// reject_on_worker_lost, prefetch 1). SIGQUIT is Celery's cold shutdown.

after(killLeftovers);

const GRACE = 9;
const CELERY = [
  DEBIAN_PYTHON,
  "-m",
  "celery",
  "--workdir",
  fixture("celery"),
  "-A",
  "tasks",
  "worker",
  "-c",
  "1",
  "--loglevel=info",
  "--without-gossip",
  "--without-mingle",
];

const REDIS_DB = 13; // this file's own Redis database

/** What a restart that overruns the deadline leaves in each broker, by how it was stopped. */
interface Broker {
  name: "rabbitmq" | "redis";
  url: string;
  port: number;
  /** The queue's state after the stop, per cell. */
  expect: Record<`${"guarded" | "bare"}-${Delivery}`, string>;
}

const BROKERS: Broker[] = [
  {
    name: "rabbitmq",
    url: "amqp://guest:guest@127.0.0.1:5672//",
    port: 5672,
    // A closed connection gives every unacknowledged message back: a kill loses nothing.
    expect: {
      "guarded-docker": "ready=1",
      "guarded-cedar": "ready=1",
      "bare-docker": "ready=1",
      "bare-cedar": "ready=1",
    },
  },
  {
    name: "redis",
    url: `redis://127.0.0.1:6379/${REDIS_DB}`,
    port: 6379,
    // A killed worker's message waits in `unacked` for the visibility timeout (1 hour);
    // a cold shutdown puts it back in the queue. On Cedar the pool process dies of
    // its own SIGTERM at once, and the main process requeues its task.
    expect: {
      "guarded-docker": "ready=1 unacked=0",
      "guarded-cedar": "ready=1 unacked=0",
      "bare-docker": "ready=0 unacked=1",
      "bare-cedar": "ready=1 unacked=0",
    },
  },
];

const QUEUE = `jobguard_${process.pid}`;

function celery(broker: Broker): MatrixWorker {
  const env = { CELERY_BROKER_URL: broker.url, CELERY_QUEUE: QUEUE };
  return {
    command: CELERY,
    env,
    jobguard: ["--worker", "celery", "--deadline", "6", "--grace", String(GRACE)],
    enqueue: (label, seconds) => {
      // A purge leaves Redis's `unacked` hash as it is: start from an empty database.
      if (broker.name === "redis") redisCli(REDIS_DB, "FLUSHDB");
      python(fixture("celery/enqueue.py"), [label, String(seconds)], env);
    },
    state: () => python(fixture("celery/state.py"), [], env),
  };
}

const skip: Record<Broker["name"], (string | null)[]> = { rabbitmq: [], redis: [] };
before(async () => {
  const runtime = commandSkipReason(
    DEBIAN_PYTHON,
    ["-c", "import celery, kombu, amqp, redis"],
    "apt-get install python3-celery python3-amqp python3-redis",
  );
  for (const broker of BROKERS)
    skip[broker.name] = [runtime, await brokerSkipReason(broker.name, broker.port)];
});
after(() => {
  for (const broker of BROKERS) {
    if (skip[broker.name].every((r) => r === null))
      python(fixture("celery/state.py"), ["--delete"], celery(broker).env);
  }
});

for (const broker of BROKERS) {
  const worker = celery(broker);
  for (const guarded of [true, false]) {
    for (const delivery of ["docker", "cedar"] as Delivery[]) {
      const cell = `${guarded ? "guarded" : "bare"}-${delivery}` as const;
      test(`celery/${broker.name}, ${guarded ? "under jobguard" : "without jobguard"}, ${delivery} stop mid-job: ${broker.expect[cell]}`, async (t) => {
        if (!prerequisite(t, "JOBGUARD_REQUIRE_WORKERS", ...skip[broker.name])) return;
        const r = await restartDuringJob(worker, {
          label: `${broker.name}-${cell}`,
          seconds: 60,
          guarded,
          delivery,
          graceS: GRACE,
        });
        // Without jobguard, a worker still waiting for its job is SIGKILLed by the platform.
        if (guarded) assert.equal(r.stop.sigkilledJobguard, false);
        if (guarded) assert.ok(r.tookMs < GRACE * 1000, `took ${r.tookMs} ms`);
        assert.deepEqual(r.survivors, []);
        assert.equal(r.state, broker.expect[cell], r.run.stderr());
        if (delivery === "cedar") {
          // The pool process dies of its own SIGTERM: the task is cut short at once.
          assert.ok(r.tookMs < 3000, `took ${r.tookMs} ms`);
          assert.doesNotMatch(r.run.stderr(), /event=escalate/);
        }
        if (guarded && delivery === "docker")
          assert.match(r.run.stderr(), /event=escalate signal=SIGQUIT reason=celery-last-step sent=true/);
        if (r.state.startsWith("ready=1")) {
          const first = r.events.find((e) => e.event === "started")!;
          const rerun = await rerunUntilFinished(worker, `${broker.name}-${cell}`, r.eventsFile, first.pid);
          assert.ok(rerun.at > r.exit.at, "the job ran again only after the first worker was gone");
        }
      });
    }
  }

  test(`celery/${broker.name} under jobguard: a job that fits in the deadline finishes`, async (t) => {
    if (!prerequisite(t, "JOBGUARD_REQUIRE_WORKERS", ...skip[broker.name])) return;
    const r = await restartDuringJob(worker, {
      label: `${broker.name}-short`,
      seconds: 1,
      guarded: true,
      delivery: "docker",
      graceS: GRACE,
    });
    assert.equal(r.exit.code, 0, r.run.stderr());
    assert.deepEqual(
      r.events.map((e) => e.event),
      ["started", "finished"],
    );
    assert.match(r.state, /^ready=0( unacked=0)?$/);
    // Celery's pool takes a second or two to wind down after the task: on a busy
    // machine the escalation (3 s in) may find it still exiting, which changes nothing.
    assert.doesNotMatch(r.run.stderr(), /deadline_exceeded/);
  });
}

const [rabbitmq] = BROKERS as [Broker, Broker];

test("celery/rabbitmq fail-safe: a Cedar-looking $DYNO, stopped like Docker: SIGTERM, then the cold shutdown, and the message is back", async (t) => {
  if (!prerequisite(t, "JOBGUARD_REQUIRE_WORKERS", ...skip.rabbitmq)) return;
  const r = await restartDuringJob(celery(rabbitmq), {
    label: "failsafe",
    seconds: 60,
    guarded: true,
    delivery: "docker",
    graceS: GRACE,
    env: { DYNO: "worker.1" },
  });
  assert.match(r.run.stderr(), /event=escalate signal=SIGTERM reason=failsafe-nothing-forwarded sent=true/);
  assert.match(r.run.stderr(), /event=escalate signal=SIGQUIT reason=celery-last-step sent=true/);
  assert.doesNotMatch(r.run.stderr(), /deadline_exceeded/);
  assert.equal(r.state, "ready=1");
});

test("celery/rabbitmq with Celery's defaults (early acknowledgement), under jobguard: the message was acknowledged at the start, the job is lost", async (t) => {
  if (!prerequisite(t, "JOBGUARD_REQUIRE_WORKERS", ...skip.rabbitmq)) return;
  const r = await restartDuringJob(celery(rabbitmq), {
    label: "defaults",
    seconds: 60,
    guarded: true,
    delivery: "docker",
    graceS: GRACE,
    env: { JOBGUARD_TEST_CELERY_DEFAULTS: "1" },
  });
  assert.equal(r.stop.sigkilledJobguard, false);
  assert.equal(r.state, "ready=0");
});
