import { spawnSync } from "node:child_process";
import type { TestContext } from "node:test";

/**
 * The switches that turn a skip for a missing prerequisite into a failure.
 * .ci/run sets every one of them: in CI nothing may pass by being skipped.
 */
export type RequireSwitch = "JOBGUARD_REQUIRE_RUBY" | "JOBGUARD_REQUIRE_UNSHARE" | "JOBGUARD_REQUIRE_ROOT";

/**
 * True when the prerequisite is there (`reason` is null). Otherwise skips `t`
 * and says why, or throws when the switch is set to 1.
 */
export function prerequisite(t: TestContext, reason: string | null, require: RequireSwitch): boolean {
  if (reason === null) return true;
  if (process.env[require] === "1") throw new Error(`${require}=1 but ${reason}`);
  t.skip(reason);
  return false;
}

let unshareReason: string | null | undefined;

/** Why a test cannot run jobguard in a mount namespace of its own (`unshare -m`, as root), or null. */
export function unshareSkipReason(): string | null {
  if (unshareReason !== undefined) return unshareReason;
  const probe = spawnSync("unshare", ["-m", "sh", "-c", "mount -t tmpfs none /proc"]);
  unshareReason =
    probe.status === 0 ? null : "hiding /proc needs `unshare -m` and `mount` (util-linux, as root)";
  return unshareReason;
}

/** Why a test cannot run jobguard as another user (root, and util-linux's setpriv), or null. */
export function rootSkipReason(): string | null {
  if (process.getuid?.() !== 0)
    return "running jobguard as an unprivileged user and a worker as root needs the tests to run as root";
  return spawnSync("setpriv", ["--version"]).status === 0 ? null : "setpriv (util-linux) is missing";
}
