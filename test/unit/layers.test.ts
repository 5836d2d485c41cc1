import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { pathToFileURL } from "node:url";
import { ESLint } from "eslint";
import { REPO_ROOT } from "../../tools/repo.js";

// The layer table of DEVELOPERS.md as a lint check: eslint.config.js turns LAYERS
// into import restrictions. In process, with the repository's own eslint config:
// no file is written, the code is linted under a path of src/ that does not exist.

interface Layers {
  LAYERS: { layer: string }[];
  MAX_DEPTH: number;
  layerTable(): string;
}
const layers = (await import(pathToFileURL(join(REPO_ROOT, "eslint.config.js")).href)) as Layers;

// Only the import rule, and without type information: the other rules need a file
// the TypeScript project holds, and the layer check reads the import statements alone.
const eslint = new ESLint({
  cwd: REPO_ROOT,
  overrideConfig: { languageOptions: { parserOptions: { projectService: false } } },
  ruleFilter: ({ ruleId }) => ruleId === "@typescript-eslint/no-restricted-imports",
});

/** The messages of linting `code` as if it were the file at `path`. */
async function lint(path: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(REPO_ROOT, path) });
  assert.ok(result, `eslint returned no result for ${path}`);
  return result.messages.map((m) => `${m.ruleId ?? "parser"}: ${m.message}`);
}

test("an upward import fails the lint, with the sentence that names what the layer may import", async () => {
  const messages = await lint(
    "src/supervise/upward.ts",
    'import { sweep } from "../lease/sweep.js";\nexport const sweeps = sweep;\n',
  );
  assert.equal(messages.length, 1, messages.join("\n"));
  assert.match(messages[0]!, /^@typescript-eslint\/no-restricted-imports: '\.\.\/lease\/sweep\.js' import/);
  assert.match(messages[0]!, /lets supervise\/ import only `process-tree\/`, `log\.ts`, `clock\.ts`\.$/);
});

test("a downward import passes, from a file of src/ itself and from a queue's folder", async () => {
  assert.deepEqual(
    await lint(
      "src/supervise/downward.ts",
      'import { signal } from "../process-tree/signal.js";\nexport { signal };\n',
    ),
    [],
  );
  assert.deepEqual(await lint("src/main.ts", 'import { supervise } from "./supervise/supervise.js";\n'), []);
  assert.deepEqual(
    await lint("src/queues/que/downward.ts", 'import { quoteTable } from "../../db/sql.js";\n'),
    [],
  );
});

test("a layer marked (types) may be named in `import type` only", async () => {
  const path = "src/queues/que/typed.ts";
  assert.deepEqual(await lint(path, 'import type { QueueConfig } from "../../config/config.js";\n'), []);
  const value = await lint(path, 'import { buildConfig } from "../../config/config.js";\n');
  assert.equal(value.length, 1, value.join("\n"));
  // Types of process-tree/ are what the release hands a queue; reading /proc is check's caller's.
  assert.equal((await lint(path, 'import { listProcesses } from "../../process-tree/proc.js";\n')).length, 1);
});

test("a layer allowed some files of another may import those and no other", async () => {
  const path = "src/config/files.ts";
  assert.deepEqual(await lint(path, 'import { que } from "../queues/que/descriptor.js";\n'), []);
  assert.deepEqual(await lint(path, 'import { QUEUES } from "../queues/descriptors.js";\n'), []);
  assert.deepEqual(await lint(path, 'import { sslModeOf } from "../db/tls.js";\n'), []);
  assert.equal((await lint(path, 'import { loadAdapter } from "../queues/index.js";\n')).length, 1);
  assert.equal((await lint(path, 'import { connect } from "../db/connect.js";\n')).length, 1);
  assert.equal((await lint(path, 'import { que } from "../queues/que/index.js";\n')).length, 1);
});

test("pg nowhere in src/ (jobguard's client is src/postgres/), ioredis only where a layer lists it", async () => {
  for (const path of ["src/supervise/pg.ts", "src/db/pg.ts", "src/postgres/pg.ts"]) {
    const messages = await lint(path, 'import type { Client } from "pg";\n');
    assert.equal(messages.length, 1, `${path}: ${messages.join("\n")}`);
    assert.match(messages[0]!, /pg is a development dependency/);
  }
  assert.equal((await lint("src/db/ioredis.ts", 'import { Redis } from "ioredis";\n')).length, 1);
  assert.deepEqual(await lint("src/redis/ioredis.ts", 'import { Redis } from "ioredis";\n'), []);
  assert.deepEqual(
    await lint("src/db/postgres.ts", 'import { connect } from "../postgres/client.js";\n'),
    [],
  );
  assert.equal((await lint("src/postgres/up.ts", 'import { connect } from "../db/connect.js";\n')).length, 1);
});

test("every folder and file of src/ is a layer of LAYERS, no deeper than the rules reach", () => {
  const src = join(REPO_ROOT, "src");
  const entries = readdirSync(src, { withFileTypes: true })
    .filter((e) => e.isDirectory() || e.name.endsWith(".ts"))
    .map((e) => e.name);
  assert.deepEqual(entries.sort(), layers.LAYERS.map((l) => l.layer).sort());
  const tooDeep = readdirSync(src, { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".ts"))
    .filter((f) => f.split("/").length - 1 > layers.MAX_DEPTH);
  assert.deepEqual(tooDeep, [], `files deeper than MAX_DEPTH in eslint.config.js: ${tooDeep.join(", ")}`);
});

test("DEVELOPERS.md's layer table is the one LAYERS prints", () => {
  const developers = readFileSync(join(REPO_ROOT, "DEVELOPERS.md"), "utf8");
  const expected = layers.layerTable();
  const header = expected.split("\n")[0]!;
  const start = developers.indexOf(`${header}\n`);
  assert.notEqual(start, -1, `DEVELOPERS.md has no table headed ${header}`);
  const table = developers.slice(start).split("\n\n")[0]!.trimEnd();
  assert.equal(table, expected, "DEVELOPERS.md's layer table differs from LAYERS in eslint.config.js");
});
