import { spawnSync } from "node:child_process";
import type { TestContext } from "node:test";

/**
 * The switches that turn a skip for a missing prerequisite into a failure.
 * .ci/run sets every one of them: in CI nothing may pass by being skipped.
 */
export type RequireSwitch =
  | "JOBGUARD_REQUIRE_RUBY"
  | "JOBGUARD_REQUIRE_UNSHARE"
  | "JOBGUARD_REQUIRE_ROOT"
  | "JOBGUARD_REQUIRE_WORKERS"
  | "JOBGUARD_REQUIRE_PGBOUNCER"
  | "JOBGUARD_REQUIRE_OWN_POSTGRES";

/**
 * True when the prerequisite is there (every reason is null). Otherwise skips
 * `t` and says why (the first reason), or throws when the switch is set to 1.
 */
export function prerequisite(t: TestContext, require: RequireSwitch, ...reasons: (string | null)[]): boolean {
  const reason = reasons.find((r) => r !== null);
  if (reason === undefined) return true;
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

/**
 * True when a test can run jobguard as a dyno of its own, under a host name of
 * its own; else skips `t`, or fails it with JOBGUARD_REQUIRE_UNSHARE=1.
 */
export function requireHostnames(t: TestContext): boolean {
  return prerequisite(t, "JOBGUARD_REQUIRE_UNSHARE", hostnameSkipReason());
}

/** Why a test cannot give jobguard a host name of its own (`unshare --uts` needs root), or null when it can. */
function hostnameSkipReason(): string | null {
  const probe = spawnSync("unshare", ["--uts", "hostname", "jobguard-probe"]);
  return probe.status === 0
    ? null
    : "simulated dynos need `unshare --uts` (util-linux, as root) to give each a host name";
}

/** Why a test cannot run jobguard as another user (root, and util-linux's setpriv), or null. */
export function rootSkipReason(): string | null {
  if (process.getuid?.() !== 0)
    return "running jobguard as an unprivileged user and a worker as root needs the tests to run as root";
  return spawnSync("setpriv", ["--version"]).status === 0 ? null : "setpriv (util-linux) is missing";
}
