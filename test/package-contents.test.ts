import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, normalize } from "node:path";
import { test } from "node:test";
import { REPO_ROOT } from "../tools/repo.js";
import { tempDir } from "./support/jobguard.js";

// What `npm publish` would upload: the tarball's file list against the
// sources, its documentation's links, and an install of it that runs no script.

const NPM_QUIET = ["--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"];

function npm(args: string[], cwd: string): string {
  return execFileSync("npm", [...args, ...NPM_QUIET], {
    cwd,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** Packs the package (no scripts: npm test has just built build/) and lists the tarball's files. */
function pack(): { tarball: string; files: string[] } {
  const dir = tempDir();
  const [packed] = JSON.parse(
    npm(["pack", "--ignore-scripts", "--json", "--pack-destination", dir], REPO_ROOT),
  ) as { filename: string; files: { path: string }[] }[];
  return { tarball: join(dir, packed!.filename), files: packed!.files.map((f) => f.path).sort() };
}

function sourcesUnder(dir: string): string[] {
  return readdirSync(join(REPO_ROOT, dir), { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".ts"))
    .map((f) => join(dir, f));
}

const packed = pack();
const MANIFEST = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as Record<string, unknown>;

test("the tarball holds the build of every source file and nothing else of build/", () => {
  const expected = sourcesUnder("src")
    .map((f) => f.replace(/^src\//, "build/src/").replace(/\.ts$/, ".js"))
    .sort();
  assert.deepEqual(
    packed.files.filter((f) => f.startsWith("build/")),
    expected,
    "a missing file breaks an import; an extra one is a stale build",
  );
});

test("the tarball holds the licence, the changelog and every page of docs/ with its examples", () => {
  for (const file of ["package.json", "README.md", "LICENSE", "CHANGELOG.md", "Procfile.example"]) {
    assert.ok(packed.files.includes(file), `${file} is missing`);
  }
  const docs = readdirSync(join(REPO_ROOT, "docs"), { recursive: true, encoding: "utf8" })
    .map((f) => join("docs", f))
    .filter((f) => /\.\w+$|Dockerfile$/.test(f));
  assert.ok(docs.includes("docs/platforms/examples/Dockerfile"));
  for (const doc of docs) assert.ok(packed.files.includes(doc), `${doc} is missing`);
  assert.match(
    readFileSync(join(REPO_ROOT, "LICENSE"), "utf8"),
    /^MIT License\n\nCopyright \(c\) \d{4} the jobguard authors/,
  );
});

test("the tarball holds no sources, tests, benchmarks, scripts, CI or tool configuration", () => {
  const unwanted = packed.files.filter(
    (f) =>
      /^(src|test|bench|scripts|\.ci|node_modules|build\/(test|bench|scripts))\//.test(f) ||
      /\.(ts|map|tgz|log)$/.test(f) ||
      /^(tsconfig\.json|eslint\.config\.js|\.prettierrc\.json|\.prettierignore|\.gitignore|package-lock\.json)$/.test(
        f,
      ),
  );
  assert.deepEqual(unwanted, []);
});

test("every relative link of the shipped Markdown leads to a shipped file", () => {
  const broken: string[] = [];
  for (const page of packed.files.filter((f) => f.endsWith(".md"))) {
    const text = readFileSync(join(REPO_ROOT, page), "utf8");
    for (const [, target] of text.matchAll(/\]\(([^)\s#:]+)(?:#[^)]*)?\)/g)) {
      const file = normalize(join(dirname(page), target!)).replace(/\/$/, "");
      // A page may name a source file for the repository's readers; the package has its build.
      if (/^(src|test)\//.test(file)) continue;
      const shipped = packed.files.some((f) => f === file || f.startsWith(`${file}/`));
      if (!shipped) broken.push(`${page}: ${target}`);
    }
  }
  assert.deepEqual(broken, []);
});

test("package.json names the repository, the licence and keywords for the registry", () => {
  const manifest = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as Record<
    string,
    unknown
  >;
  assert.equal(manifest.license, "MIT");
  assert.ok(Array.isArray(manifest.keywords) && manifest.keywords.length > 0);
  for (const key of ["repository", "homepage", "bugs"]) assert.ok(manifest[key], `${key} is missing`);
});

test(
  "installed from the tarball with --ignore-scripts, jobguard runs and its docs are there",
  { timeout: 180_000 },
  () => {
    const app = tempDir();
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true }));
    npm(["install", "--ignore-scripts", packed.tarball], app);
    const installed = join(app, "node_modules", "jobguard");
    assert.ok(existsSync(join(installed, "docs", "platforms", "examples", "Dockerfile")));
    const bin = join(app, "node_modules", ".bin", "jobguard");
    const version = execFileSync(bin, ["--version"], { encoding: "utf8" }).trim();
    assert.equal(version, MANIFEST.version);
    const run = spawnSync(bin, ["--grace", "10", "--", "sh", "-c", "exit 3"], { encoding: "utf8" });
    assert.equal(run.status, 3);
    assert.match(run.stderr, /event=started .*deadline=7.5 grace=10 /);
  },
);
