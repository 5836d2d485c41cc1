import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { ESCALATION_SIGNALS, WORKERS } from "../../../src/config/escalation.js";
import { markdownTables, OPTIONS, usage } from "../../../src/config/usage.js";
import { QUEUES } from "../../../src/queues/descriptors.js";
import { REPO_ROOT } from "../../../tools/repo.js";

// config/usage.ts is the one table of the commands and settings: --help prints
// it, and the README must show it as it is. A change to either fails here
// until usage.ts and the README agree (print markdownTables() into the README).

const README = readFileSync(join(REPO_ROOT, "README.md"), "utf8");

test("the README's tables of the commands and of the settings are usage.ts's", () => {
  const { commands, options } = markdownTables();
  assert.ok(README.includes(`\n${commands}\n`), `the README's commands table is not:\n${commands}`);
  assert.ok(README.includes(`\n${options}\n`), `the README's settings table is not:\n${options}`);
});

test("--help names every setting with its flag, variable and default, every command and every queue", () => {
  const help = usage();
  for (const o of OPTIONS)
    assert.match(help, new RegExp(`\\n  ${o.flag} ${o.valueName}  ${o.env}  \\(default: `));
  for (const command of ["-- <command>", "check [options]", "rescue [options]"])
    assert.ok(help.includes(command));
  for (const q of QUEUES) assert.match(help, new RegExp(`\\n  ${q.kind} +${q.describe.slice(0, 10)}`));
  assert.doesNotMatch(help, /`|\]\(/, "Markdown left in the help");
});

test("the table lists every worker preset and every escalation signal the checks accept", () => {
  const row = (key: string) => OPTIONS.find((o) => o.key === key)!.meaning;
  for (const worker of WORKERS) assert.ok(row("worker").includes(`\`${worker}\``), worker);
  for (const signal of ESCALATION_SIGNALS) assert.ok(row("escalate").includes(`\`${signal}\``), signal);
});
