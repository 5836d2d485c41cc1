import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { withClient } from "../tools/db.js";
import { withoutJobguardSettings } from "../tools/env.js";
import { REPO_ROOT } from "../tools/repo.js";
import { testServerUrl } from "./support/db.js";

const DEMO = join(REPO_ROOT, "build/scripts/demo.js");

test(
  "npm run demo: without jobguard the job stays locked, with jobguard the next worker takes it",
  { timeout: 90_000 },
  async () => {
    const url = testServerUrl();
    const env: NodeJS.ProcessEnv = { ...withoutJobguardSettings(), DATABASE_URL: url };
    const child = spawn(process.execPath, [DEMO], { env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    const code = await new Promise<number | null>((done) => child.on("close", (c) => done(c)));

    assert.equal(code, 0, output);
    assert.match(output, /is still locked by "host:\S+ pid:\d+", a process that no longer exists/, output);
    assert.match(output, /jobguard event=locks_released queue=delayed_job jobs=1 ids=1 /, output);
    assert.match(output, /Job #1 was taken by the next worker \(\d+\) \d+\.\d\d s after the release/, output);
    assert.match(output, /^Summary: /m, output);
    // The worker hears two SIGTERMs under jobguard on Cedar, and the demo says why.
    assert.match(output, /\(this second SIGTERM is jobguard's fail-safe, not a repeat of Heroku's/, output);

    const password = new URL(url).password;
    if (password)
      assert.ok(!output.includes(decodeURIComponent(password)), "the demo printed the database password");
    assert.ok(!output.includes(url), "the demo printed the database URL");

    // Its table lived in the user's database only while the demo ran.
    const table = /in a new table (jobguard_demo_jobs_\w+)/.exec(output)?.[1];
    assert.ok(table, output);
    // jobguard's lease tables for it too.
    for (const made of [table, `${table}_leases`, `${table}_leases_rescues`]) {
      const left = await withClient(url, (c) =>
        c.query<{ t: string | null }>("SELECT to_regclass($1) AS t", [made]),
      );
      assert.equal(left.rows[0]!.t, null, `table ${made} was not dropped`);
    }
  },
);
