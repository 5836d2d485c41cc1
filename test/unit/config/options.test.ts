import assert from "node:assert/strict";
import { test } from "node:test";
import { parseArgs, UsageError } from "../../../src/config/options.js";

// Option parsing, in-process: flags, the environment, the subcommands.
// test/cli.test.ts runs the real binary for the output format and exit code.

test("parseArgs: flags up to -- or the first word, the environment for the rest, flags win", () => {
  const parsed = parseArgs(["--deadline", "3", "--grace=9", "--", "rake", "--deadline", "x"], {
    JOBGUARD_DEADLINE: "7",
    JOBGUARD_FORWARD: "never",
  });
  assert.equal(parsed.action, "run");
  assert.deepEqual(parsed.command, ["rake", "--deadline", "x"]);
  assert.deepEqual(parsed.values.deadline, { value: "3", source: "--deadline" });
  assert.deepEqual(parsed.values.grace, { value: "9", source: "--grace" });
  assert.deepEqual(parsed.values.forward, { value: "never", source: "JOBGUARD_FORWARD" });
  assert.deepEqual(parseArgs(["bundle", "exec", "--x"], {}).command, ["bundle", "exec", "--x"]);
});

test("parseArgs: an empty variable counts as unset", () => {
  assert.equal(parseArgs(["--", "w"], { JOBGUARD_DEADLINE: "" }).values.deadline, undefined);
});

test("parseArgs: help, version and the subcommands; a subcommand after -- is a command", () => {
  assert.equal(parseArgs(["--deadline", "3", "-h"], {}).action, "help");
  assert.equal(parseArgs(["-V"], {}).action, "version");
  assert.equal(parseArgs(["check"], {}).action, "check");
  assert.equal(parseArgs(["rescue"], {}).action, "rescue");
  assert.deepEqual(parseArgs(["--", "check"], {}).command, ["check"]);
});

test("parseArgs: check and rescue take the options after them as before them, and nothing else", () => {
  const parsed = parseArgs(["--grace", "9", "check", "--queue", "delayed_job", "--grace=8"], {
    JOBGUARD_QUEUE: "que",
  });
  assert.equal(parsed.action, "check");
  assert.deepEqual(parsed.values.queue, { value: "delayed_job", source: "--queue" });
  assert.deepEqual(parsed.values.grace, { value: "8", source: "--grace" });
  assert.equal(parseArgs(["rescue", "--queue=solid_queue"], {}).action, "rescue");
  assert.equal(parseArgs(["check", "--help"], {}).action, "help");
  assert.throws(
    () => parseArgs(["check", "x"], {}),
    /jobguard check takes options only, not "x" \(a worker command named check goes after --: jobguard -- check\)$/,
  );
  assert.throws(() => parseArgs(["rescue", "--", "x"], {}), /jobguard rescue takes options only, not "--"/);
  assert.throws(() => parseArgs(["check", "--queu", "x"], {}), /unknown option --queu/);
});

test("parseArgs: unknown options, missing values and a missing command are usage errors naming the flag", () => {
  assert.throws(
    () => parseArgs(["--dealine", "3", "--", "w"], {}),
    (error: unknown) => error instanceof UsageError && error.message === "unknown option --dealine",
  );
  assert.throws(() => parseArgs(["--deadline"], {}), /--deadline needs a value/);
  assert.throws(() => parseArgs(["--deadline", "--", "w"], {}), /--deadline needs a value/);
  assert.throws(() => parseArgs(["--deadline", "3"], {}), /no worker command given/);
});
