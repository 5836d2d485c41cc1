// The linter: typescript-eslint's type-aware rules over every TypeScript file,
// and the layer table of src/ as import restrictions.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

/**
 * The layers of src/, from the top: each folder (or file of src/ itself), what it
 * holds, and what of the others it may import. An import is a layer's name, or
 * `{ layer, files }` for only those files of it (globs from the layer's folder),
 * or `{ layer, types: true }` for its types alone (`import type` is erased at build,
 * so it loads nothing); `ioredis` only where listed.
 * DEVELOPERS.md's layer table is this list (test/unit/layers.test.ts); `import()`
 * expressions are not checked, so a lazy load goes downward by review alone.
 */
export const LAYERS = [
  {
    layer: "cli.ts",
    holds: "the entry point: what applies to the whole process (V8's flags), then `main.ts`",
    imports: ["main.ts"],
    note: "by `import()`, once the flags are set",
  },
  {
    layer: "main.ts",
    holds: "the command line: parses it, then runs `supervise()`, `check` or `rescue`",
    imports: ["commands", "release", "supervise", "config", "process-tree", "db", "log.ts"],
    note: "the commands and the release by `import()`, when they run",
  },
  {
    layer: "commands",
    holds:
      "`check`, `rescue`, and the connection each opens (`command-connection.ts`; for a queue in Redis " +
      "`redis-connection.ts`, and `redis-rescue.ts`); the tables and privileges they check (`tables.ts`, " +
      "`lease-check.ts`); what they print, escaped (`printable.ts`)",
    imports: [
      { layer: "config", types: true },
      "db",
      "redis",
      "queues",
      "lease",
      { layer: "process-tree", files: ["proc.ts"] },
      { layer: "postgres", types: true },
    ],
    note: "`proc.ts` for `check`'s running pids",
  },
  {
    layer: "release",
    holds:
      "`release.ts` (`createRelease`): the `ReleasePort`, what the supervisor calls around a kill; " +
      "`redis-release.ts`, the same for a queue in Redis",
    imports: [
      { layer: "config", types: true },
      { layer: "supervise", files: ["release-port.ts"] },
      "lease",
      "queues",
      "db",
      "redis",
      "process-tree",
      "log.ts",
      "clock.ts",
    ],
  },
  {
    layer: "lease",
    holds:
      "the lease, heartbeats, sweeps and the schema, for any adapter with `rescue`; in Redis, " +
      "`redis-lease.ts`, `redis-sweep.ts` and their keys (`redis-lease-keys.ts`)",
    imports: [
      { layer: "config", types: true },
      "db",
      { layer: "queues", files: ["adapter.ts", "redis-adapter.ts"] },
      { layer: "redis", types: true },
      "process-tree",
      "log.ts",
      "clock.ts",
      { layer: "postgres", types: true },
    ],
  },
  {
    layer: "supervise",
    holds:
      "spawn, signals, the shutdown's one state and its deadline (`shutdown.ts`), waiting for the tree " +
      "(`await-tree.ts`), the escalation, the watchdog, internal errors, exit statuses (`exit.ts`); the plain " +
      "supervisor where there is no `/proc` (`without-proc.ts`); its own options (`options.ts`, which `cli.ts` " +
      "maps the configuration to); `release-port.ts`, the `ReleasePort` the release implements",
    imports: ["process-tree", "log.ts", "clock.ts"],
  },
  {
    layer: "config",
    holds:
      "options (`options.ts`) and their checks, a file a concern (`timing.ts`, `forward.ts`, `queue.ts`, " +
      "`rescue.ts`, `database-url.ts`), no effects; `config.ts` builds `Config`; the worker presets in " +
      "`escalation.ts`; the commands and settings as the README's tables and --help show them (`usage.ts`)",
    imports: [
      { layer: "queues", files: ["descriptor.ts", "descriptors.ts", "*/descriptor.ts"] },
      { layer: "db", files: ["tls.ts", "url.ts"] },
      { layer: "redis", files: ["options.ts"] },
      { layer: "log.ts", types: true },
    ],
    note: "nothing with effects: the descriptors import only types, `tls.ts` loads `fs` only to read a certificate, `url.ts` reads libpq's URLs and imports nothing, `redis/options.ts` is pure",
  },
  {
    layer: "queues",
    holds:
      "one folder per queue (`delayed-job/`, `solid-queue/`, `good-job/`, `que/`, `sql/`; in Redis, behind " +
      "`redis-adapter.ts`: `sidekiq/`, `rq/`), each with " +
      "`descriptor.ts` (its settings and a loader: data, no imports but types), `index.ts` (its adapter, " +
      "behind `adapter.ts`), and where they apply `release.ts`, `rescue.ts` (the sweep's hooks), `check.ts`, " +
      "`sql.ts` (statements shared by the two); `descriptors.ts` lists the queues, `index.ts` loads one; what " +
      "two queues share: `released.ts`, `rescue-count.ts`, `worker-names.ts`",
    imports: [
      "db",
      { layer: "redis", types: true },
      { layer: "config", types: true },
      { layer: "process-tree", types: true },
      { layer: "postgres", types: true },
    ],
    note: "`check` is handed what it needs of `/proc`",
  },
  {
    layer: "db",
    holds:
      "connecting (`connect.ts`), URLs, TLS and the sslmode, the password file by libpq's rules (`url.ts`, " +
      "`tls.ts`, `pgpass.ts`), `KeptConnection` (`kept-connection.ts`: a kept connection with a limit per use), " +
      "retries, redaction, quoting, preparing without running (`prepare.ts`), ending sessions",
    imports: ["postgres", "clock.ts"],
  },
  {
    layer: "postgres",
    holds:
      "jobguard's PostgreSQL client: a session's start (`session.ts`: the socket, TLS, the login), its " +
      "statements (`client.ts`: the simple and extended protocol), the messages (`messages.ts`), the logins " +
      "(`auth.ts`: md5, SCRAM-SHA-256), values in text format (`values.ts`), errors (`errors.ts`)",
    imports: [],
    note: "Node's own modules only",
  },
  {
    layer: "redis",
    holds:
      "Redis URLs and their TLS rules (`options.ts`, pure), `RedisConnection` (`connection.ts`: a kept " +
      "connection with a limit per use, the counterpart of `KeptConnection`)",
    imports: ["ioredis"],
    note: "loaded on first use",
  },
  {
    layer: "process-tree",
    holds: "`/proc`: finding, recording and killing the tree; every signal jobguard sends (`signal.ts`)",
    imports: ["clock.ts"],
  },
  { layer: "log.ts", holds: "the logger: one logfmt line an event, on stderr, best effort", imports: [] },
  {
    layer: "clock.ts",
    holds: "the monotonic clock every duration and deadline runs on (`now()`), never the wall clock",
    imports: [],
  },
];

const PACKAGES = ["ioredis"];
// The tests' and benchmarks' client, never jobguard's: src/postgres/ is its own.
const DEV_ONLY = ["pg", "pg-connection-string"];
// src/<layer>/a.ts is depth 1, src/<layer>/<folder>/a.ts depth 2; the test checks no file is deeper.
export const MAX_DEPTH = 3;

const isFile = (layer) => layer.endsWith(".ts");
const nameOf = (layer) => (isFile(layer) ? layer : `${layer}/`);
const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
// A glob of a layer's files, as an import names them: `*/descriptor.ts` → `[^/]+/descriptor\.js`.
const specifierOf = (glob) =>
  glob
    .split("*")
    .map(escape)
    .join("[^/]+")
    .replace(/\\\.ts$/, "\\.js");

/** How a layer's imports read in the table and in lint messages. */
export function describeImports({ imports, note }) {
  const names = imports.map((entry) => {
    if (typeof entry === "string")
      return PACKAGES.includes(entry) || isFile(entry) ? `\`${entry}\`` : `\`${entry}/\``;
    const name = isFile(entry.layer) ? entry.layer : `${entry.layer}/`;
    if (entry.types) return `\`${name}\` (types)`;
    return entry.files.map((file) => `\`${name}${file}\``).join(", ");
  });
  const listed = names.length ? names.join(", ") : "nothing";
  return note ? `${listed}; ${note}` : listed;
}

/**
 * DEVELOPERS.md's layer table, printed from LAYERS:
 * node -e 'import("./eslint.config.js").then((m) => console.log(m.layerTable()))'
 */
export function layerTable() {
  const rows = LAYERS.map(
    (layer) => `| \`${nameOf(layer.layer)}\` | ${layer.holds} | ${describeImports(layer)} |`,
  );
  return ["| Layer | Holds | Imports |", "|---|---|---|", ...rows].join("\n");
}

/** The no-restricted-imports patterns for a file of `from` at `depth` folders below src/. */
function restrictions(from, depth) {
  const up = depth === 0 ? "\\./" : `(\\.\\./){${depth}}`;
  const message = `The layer table (LAYERS in eslint.config.js) lets ${nameOf(from.layer)} import only ${describeImports(from)}.`;
  const patterns = [];
  for (const to of LAYERS) {
    if (to === from) continue;
    const allowed = from.imports.find(
      (entry) => (typeof entry === "string" ? entry : entry.layer) === to.layer,
    );
    const target = isFile(to.layer) ? `${escape(to.layer.replace(/\.ts$/, ".js"))}$` : `${escape(to.layer)}/`;
    if (allowed === undefined) patterns.push({ regex: `^${up}${target}`, message });
    else if (allowed.types) patterns.push({ regex: `^${up}${target}`, allowTypeImports: true, message });
    else if (allowed.files) {
      const except = allowed.files.map(specifierOf).join("|");
      patterns.push({ regex: `^${up}${target}(?!(${except})$)`, message });
    }
  }
  for (const name of PACKAGES)
    if (!from.imports.includes(name)) patterns.push({ regex: `^${escape(name)}(/|$)`, message });
  for (const name of DEV_ONLY)
    patterns.push({
      regex: `^${escape(name)}(/|$)`,
      message: `${name} is a development dependency: jobguard's PostgreSQL client is src/postgres/.`,
    });
  return patterns.map((pattern) => ({ ...pattern, caseSensitive: true }));
}

/** One config object a layer and depth: the rule's options differ by both. */
function layerRules() {
  return LAYERS.flatMap((layer) => {
    const depths = isFile(layer.layer) ? [0] : Array.from({ length: MAX_DEPTH }, (_, i) => i + 1);
    return depths.map((depth) => ({
      files: [
        isFile(layer.layer) ? `src/${layer.layer}` : `src/${layer.layer}/${"*/".repeat(depth - 1)}*.ts`,
      ],
      rules: {
        "@typescript-eslint/no-restricted-imports": ["error", { patterns: restrictions(layer, depth) }],
      },
    }));
  });
}

export default tseslint.config(
  { ignores: ["build/", "node_modules/", "test/fixtures/"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      // node:test's test() returns a promise that the runner itself awaits.
      "@typescript-eslint/no-floating-promises": [
        "error",
        {
          allowForKnownSafeCalls: [
            { from: "package", package: "node:test", name: ["test", "it", "describe", "suite"] },
          ],
        },
      ],
    },
  },
  ...layerRules(),
  { files: ["**/*.js", "**/*.mjs"], ...tseslint.configs.disableTypeChecked },
);
