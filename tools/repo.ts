import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

// Where things are in the repository, for the scripts, the benchmarks and the tests.

/** The repository root: the nearest ancestor holding package.json (valid from tools/ and build/tools/). */
export const REPO_ROOT: string = findRepoRoot(dirname(fileURLToPath(import.meta.url)));

/** The built jobguard, run as a user runs it. */
export const JOBGUARD: string = join(REPO_ROOT, "build", "src", "cli.js");

function findRepoRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json"))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${start}`);
  }
}
