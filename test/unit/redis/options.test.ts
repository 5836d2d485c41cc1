import assert from "node:assert/strict";
import { test } from "node:test";
import { buildConfig } from "../../../src/config/config.js";
import { parseArgs, UsageError } from "../../../src/config/options.js";
import { describeRedis, redisTarget } from "../../../src/redis/options.js";

// Redis URLs and what config/ makes of them, in process: no Redis, no child process.

const queue = (env: NodeJS.ProcessEnv) => buildConfig(parseArgs(["--", "w"], env), env).queue;

test("a redis:// URL: host, port, database number, user and password, decoded; no TLS", () => {
  assert.deepEqual(redisTarget("redis://u%40x:p%2Fw@cache.example:6380/7"), {
    host: "cache.example",
    port: 6380,
    db: 7,
    username: "u@x",
    password: "p/w",
    tls: undefined,
  });
  assert.deepEqual(redisTarget("redis://:secret@h"), {
    host: "h",
    port: 6379,
    db: 0,
    username: undefined,
    password: "secret",
    tls: undefined,
  });
});

test("rediss:// encrypts without verifying, as Heroku Redis's self-signed certificates need; ssl_cert_reqs=required verifies", () => {
  assert.deepEqual(redisTarget("rediss://:p@ec2-1.compute.amazonaws.com:12345").tls, { verify: false });
  assert.deepEqual(redisTarget("rediss://:p@h:1?ssl_cert_reqs=none").tls, { verify: false });
  assert.deepEqual(redisTarget("rediss://:p@h:1?ssl_cert_reqs=required").tls, { verify: true });
  assert.deepEqual(redisTarget("rediss://:p@h:1?ssl_cert_reqs=optional").tls, { verify: true });
});

test("a Redis URL is described by host, port and database, never its password", () => {
  assert.equal(describeRedis("rediss://:hunter2@h.example:6380/3"), "rediss://h.example:6380/3");
  assert.equal(describeRedis("not a url :hunter2@"), "<the Redis URL, which cannot be parsed>");
});

test("sidekiq and rq read JOBGUARD_REDIS_URL, else REDIS_URL, and refuse a database URL", () => {
  assert.equal(queue({ JOBGUARD_QUEUE: "sidekiq", REDIS_URL: "redis://a/1" })?.databaseUrl, "redis://a/1");
  const both = { JOBGUARD_QUEUE: "rq", REDIS_URL: "redis://a/1", JOBGUARD_REDIS_URL: "redis://b/2" };
  assert.equal(queue(both)?.databaseUrl, "redis://b/2");
  assert.equal(queue(both)?.store, "redis");
  const refused = (env: NodeJS.ProcessEnv, sentence: string) =>
    assert.throws(
      () => queue(env),
      (error: unknown) => error instanceof UsageError && error.message === sentence,
    );
  refused(
    { JOBGUARD_QUEUE: "sidekiq" },
    "JOBGUARD_QUEUE=sidekiq needs Redis: set JOBGUARD_REDIS_URL or REDIS_URL",
  );
  refused(
    { JOBGUARD_QUEUE: "rq", REDIS_URL: "redis://a", JOBGUARD_DATABASE_URL: "postgres://h/db" },
    "JOBGUARD_DATABASE_URL is not used with JOBGUARD_QUEUE=rq: its jobs are in Redis (JOBGUARD_REDIS_URL)",
  );
  refused(
    { JOBGUARD_QUEUE: "delayed_job", DATABASE_URL: "postgres://h/db", JOBGUARD_REDIS_URL: "redis://a" },
    "JOBGUARD_REDIS_URL is only used with a queue in Redis (sidekiq, rq)",
  );
  refused(
    { JOBGUARD_REDIS_URL: "redis://a" },
    "JOBGUARD_REDIS_URL is set but no queue is (set JOBGUARD_QUEUE)",
  );
});

test("a Redis URL jobguard cannot use stops it, in a sentence that never repeats the URL", () => {
  const cases: Array<[string, string]> = [
    ["postgres://:hunter2@h/1", "REDIS_URL must be a redis:// or rediss:// URL, not postgres://"],
    ["redis://:hunter2@h/cache", "REDIS_URL names a database that is not a number"],
    [
      "rediss://:hunter2@h/1?ssl_cert_reqs=maybe",
      "REDIS_URL has an unknown ssl_cert_reqs (expected none, optional or required)",
    ],
    ["redis://:hunter%zz2@h/1", "REDIS_URL has a malformed %-escape in its user name or password"],
  ];
  for (const [url, sentence] of cases) {
    assert.throws(
      () => queue({ JOBGUARD_QUEUE: "sidekiq", REDIS_URL: url }),
      (error: unknown) =>
        error instanceof UsageError && error.message === sentence && !error.message.includes("hunter"),
      url,
    );
  }
});
