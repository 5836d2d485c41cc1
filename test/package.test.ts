import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { REPO_ROOT } from "../tools/repo.js";
import { tempDir } from "./support/jobguard.js";

const { version: VERSION } = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as {
  version: string;
};
const NPM_QUIET = ["--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"];

function run(file: string, args: string[], cwd: string): string {
  return execFileSync(file, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

test(
  "the packed package installs globally and through npx, and its jobguard runs",
  { timeout: 180_000 },
  () => {
    const dir = tempDir();
    // --ignore-scripts: npm test has just built build/, and a rebuild now would rewrite files other tests are running.
    run("npm", ["pack", "--ignore-scripts", "--pack-destination", dir, ...NPM_QUIET], REPO_ROOT);
    const tarball = join(
      dir,
      readdirSync(dir).find((f) => f.endsWith(".tgz"))!,
    );

    const prefix = join(dir, "global");
    run("npm", ["install", "--global", "--prefix", prefix, tarball, ...NPM_QUIET], dir);
    const global = join(prefix, "bin", "jobguard");
    assert.equal(run(global, ["--version"], dir).trim(), VERSION);
    assert.throws(
      () => run(global, ["--log-level", "silent", "--", "sh", "-c", "exit 7"], dir),
      (error: { status?: number }) => error.status === 7,
    );

    const app = join(dir, "app");
    run("mkdir", ["-p", app], dir);
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true }));
    run("npm", ["install", tarball, ...NPM_QUIET], app);
    assert.equal(run("npx", ["--no-install", "jobguard", "--version"], app).trim(), VERSION);
  },
);
