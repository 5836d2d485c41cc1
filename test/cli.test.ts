import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { REPO_ROOT } from "../tools/repo.js";
import { runJobguard, tempDir, killLeftovers } from "./support/jobguard.js";

// The command line as a user meets it: a bad setting is one sentence and exit
// 2 before anything starts; --help, --version, flags over variables, the log level.

after(killLeftovers);

// Each case: arguments, environment, and the sentence jobguard must print.
const BAD: [string, string[], NodeJS.ProcessEnv, RegExp][] = [
  [
    "a deadline that is not a number",
    ["--deadline", "soon"],
    {},
    /--deadline must be a positive number of seconds, got "soon"/,
  ],
  [
    "a zero deadline",
    [],
    { JOBGUARD_DEADLINE: "0" },
    /JOBGUARD_DEADLINE must be a positive number of seconds, got "0"/,
  ],
  ["a negative grace", ["--grace=-3"], {}, /--grace must be a positive number of seconds, got "-3"/],
  [
    "a deadline as long as the grace",
    ["--deadline", "30"],
    {},
    /--deadline=30 must be shorter than the grace period, JOBGUARD_GRACE \(unset: 30\)/,
  ],
  [
    "a deadline longer than the grace",
    [],
    { JOBGUARD_DEADLINE: "10", JOBGUARD_GRACE: "9.5" },
    /JOBGUARD_DEADLINE=10 must be shorter than the grace period, JOBGUARD_GRACE=9.5/,
  ],
  [
    "an unknown forward mode",
    ["--forward", "sometimes"],
    {},
    /--forward must be one of auto, always, never, got "sometimes"/,
  ],
  [
    "an unknown log level",
    [],
    { JOBGUARD_LOG_LEVEL: "loud" },
    /JOBGUARD_LOG_LEVEL must be one of silent, info, debug, got "loud"/,
  ],
  ["an unknown option", ["--dealine", "3"], {}, /unknown option --dealine/],
  ["an option without its value", ["--deadline"], {}, /--deadline needs a value/],
  [
    "an unknown queue",
    ["--queue", "sidekiq"],
    { DATABASE_URL: "postgres://localhost/x" },
    /--queue must be one of delayed_job, solid_queue, good_job, que, sql, got "sidekiq"/,
  ],
  [
    "a queue without a database",
    [],
    { JOBGUARD_QUEUE: "delayed_job", DATABASE_URL: "" },
    /JOBGUARD_QUEUE=delayed_job needs a database: set JOBGUARD_DATABASE_URL or DATABASE_URL/,
  ],
  [
    "a database URL that is not one",
    [],
    { JOBGUARD_QUEUE: "delayed_job", DATABASE_URL: "not a url secret" },
    /DATABASE_URL is not a valid URL/,
  ],
  [
    "a MySQL URL",
    [],
    { JOBGUARD_QUEUE: "delayed_job", JOBGUARD_DATABASE_URL: "mysql://u:hunter2@h/db" },
    /JOBGUARD_DATABASE_URL must be a postgres:\/\/ or postgresql:\/\/ URL, not mysql:\/\//,
  ],
  [
    "the sql queue without its statement",
    ["--queue", "sql"],
    { DATABASE_URL: "postgres://localhost/x" },
    /--queue=sql needs the release statement in JOBGUARD_RELEASE_SQL/,
  ],
  [
    "a release statement for delayed_job",
    [],
    {
      JOBGUARD_QUEUE: "delayed_job",
      DATABASE_URL: "postgres://localhost/x",
      JOBGUARD_RELEASE_SQL: "select 1",
    },
    /JOBGUARD_RELEASE_SQL is only used with JOBGUARD_QUEUE=sql/,
  ],
  [
    "a table name with a quote",
    [],
    {
      JOBGUARD_QUEUE: "delayed_job",
      DATABASE_URL: "postgres://localhost/x",
      JOBGUARD_TABLE: 'jobs"; drop table x; --',
    },
    /JOBGUARD_TABLE must be a table name or schema.table/,
  ],
  [
    "a database setting without a queue",
    [],
    { JOBGUARD_TABLE: "jobs" },
    /JOBGUARD_TABLE is set but no queue is/,
  ],
  [
    "a stale-after too short for the grace and two heartbeats",
    ["--heartbeat", "10", "--stale-after", "15"],
    { JOBGUARD_QUEUE: "delayed_job", DATABASE_URL: "postgres://localhost/x" },
    /the stale-after time \(15 s, --stale-after\) must be at least the grace period \(30 s, JOBGUARD_GRACE\) plus twice the heartbeat \(10 s, JOBGUARD_HEARTBEAT\) plus 3 s/,
  ],
  [
    "a fractional rescue limit",
    [],
    { JOBGUARD_QUEUE: "delayed_job", DATABASE_URL: "postgres://localhost/x", JOBGUARD_MAX_RESCUES: "2.5" },
    /JOBGUARD_MAX_RESCUES must be a whole number, got "2.5"/,
  ],
  [
    "a lease setting for the sql queue",
    ["--heartbeat", "5"],
    { JOBGUARD_QUEUE: "sql", DATABASE_URL: "postgres://localhost/x", JOBGUARD_RELEASE_SQL: "select 1" },
    /--heartbeat is only used with JOBGUARD_QUEUE=delayed_job/,
  ],
  [
    "an unknown connection mode",
    [],
    { JOBGUARD_QUEUE: "delayed_job", DATABASE_URL: "postgres://localhost/x", JOBGUARD_CONNECTION: "pooled" },
    /JOBGUARD_CONNECTION must be one of per-heartbeat, keep, got "pooled"/,
  ],
  [
    "a connection mode for the sql queue",
    ["--connection", "keep"],
    { JOBGUARD_QUEUE: "sql", DATABASE_URL: "postgres://localhost/x", JOBGUARD_RELEASE_SQL: "select 1" },
    /--connection is only used with JOBGUARD_QUEUE=delayed_job/,
  ],
  [
    "a lease table with a space",
    [],
    {
      JOBGUARD_QUEUE: "delayed_job",
      DATABASE_URL: "postgres://localhost/x",
      JOBGUARD_LEASE_TABLE: "my leases",
    },
    /JOBGUARD_LEASE_TABLE must be a table name or schema.table/,
  ],
];

for (const [name, args, env, sentence] of BAD) {
  test(`configuration error: ${name}`, async () => {
    const marker = join(tempDir(), "started");
    const run = runJobguard([...args, "--", "touch", marker], env);
    const exit = await run.exited;
    assert.equal(exit.code, 2);
    // One sentence naming the setting, one line pointing to --help, nothing more:
    // in a platform log the whole usage would bury the sentence.
    const [first, second, ...rest] = run.stderr().split("\n");
    assert.match(first!, sentence);
    assert.match(first!, /^jobguard: /);
    assert.equal(second, "Try 'jobguard --help' for the options.");
    assert.deepEqual(rest, [""]);
    assert.doesNotMatch(run.stderr(), /hunter2|secret/, "a secret was printed");
    assert.equal(existsSync(marker), false, "the worker was started");
  });
}

test("no command is a usage error", async () => {
  const run = runJobguard([]);
  assert.equal((await run.exited).code, 2);
  assert.equal(run.stderr(), "jobguard: no worker command given\nTry 'jobguard --help' for the options.\n");
});

test("--help and --version", async () => {
  const help = runJobguard(["--help"]);
  assert.equal((await help.exited).code, 0);
  const { version } = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as {
    version: string;
  };
  const v = runJobguard(["--version"]);
  let out = "";
  v.child.stdout!.on("data", (c) => (out += c));
  assert.equal((await v.exited).code, 0);
  assert.equal(out.trim(), version);
});

test("flags win over the environment, and decimals are allowed", async () => {
  const run = runJobguard(["--deadline", "2.5", "--", "true"], {
    JOBGUARD_DEADLINE: "7",
    JOBGUARD_GRACE: "8",
  });
  assert.equal((await run.exited).code, 0);
  assert.match(run.stderr(), /deadline=2.5 grace=8 /);
});

test("log level silent says nothing; debug says more", async () => {
  const quiet = runJobguard(["--log-level", "silent", "--", "true"]);
  assert.equal((await quiet.exited).code, 0);
  assert.equal(quiet.stderr(), "");
  const loud = runJobguard(["--", "true"], { JOBGUARD_LOG_LEVEL: "info" });
  await loud.exited;
  assert.match(loud.stderr(), /^jobguard event=started pid=\d+ child=\d+ deadline=25 grace=30 forward=auto/m);
  assert.match(loud.stderr(), /^jobguard event=exit code=0/m);
});
