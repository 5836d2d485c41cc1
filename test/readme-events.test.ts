import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { REPO_ROOT } from "../tools/repo.js";

// Every event jobguard can print is in the README's list (## Logs), and the
// list names no event that src/ cannot print. Events are found in the source
// by the ways it writes them; a new way of logging adds its pattern here.

const EVENT_PATTERNS: readonly RegExp[] = [
  // log.info("started", ...), this.log.error(\n "x", ...), (found ? log.info : log.debug)("swept", ...)
  /\b(?:info|debug|error)\)?\(\s*"([a-z][a-z_]*)"/g,
  // log[failed ? "debug" : "info"]("heartbeat_failed", ...)
  /\]\(\s*"([a-z][a-z_]*)"/g,
  // A line written out whole, or named in a comment.
  /\bevent=([a-z][a-z_]*)/g,
];

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? sources(path) : entry.name.endsWith(".ts") ? [path] : [];
  });
}

function eventsInSource(): Map<string, string> {
  const found = new Map<string, string>();
  for (const file of sources(join(REPO_ROOT, "src"))) {
    const text = readFileSync(file, "utf8");
    for (const pattern of EVENT_PATTERNS)
      for (const match of text.matchAll(pattern)) found.set(match[1]!, file.slice(REPO_ROOT.length + 1));
  }
  return found;
}

/** The README's Logs section, up to the next section. */
function logsSection(): string {
  const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
  const start = readme.indexOf("\n## Logs\n");
  assert.ok(start >= 0, "the README has no ## Logs section");
  const end = readme.indexOf("\n## ", start + 1);
  return readme.slice(start, end === -1 ? undefined : end);
}

/** The events of the section's table: its rows' first cells, `name`. */
function documented(section: string): Set<string> {
  return new Set([...section.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]!));
}

test("every event jobguard can print is in the README's list of events", () => {
  const listed = documented(logsSection());
  const missing = [...eventsInSource()].filter(([event]) => !listed.has(event));
  assert.deepEqual(
    missing.map(([event, file]) => `${event} (${file})`),
    [],
    "add a row for each to the table under ## Logs in README.md",
  );
});

test("the README's list of events names none that jobguard cannot print", () => {
  const printed = eventsInSource();
  assert.ok(printed.size > 20, `the patterns found only ${printed.size} events: has the logging changed?`);
  assert.deepEqual(
    [...documented(logsSection())].filter((event) => !printed.has(event)),
    [],
  );
});
