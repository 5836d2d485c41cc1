import { UsageError, type OptionKey, type RawValue } from "./options.js";
import { seconds } from "./values.js";

/** JOBGUARD_DEADLINE and JOBGUARD_GRACE, checked against each other; the deadline follows the grace where unset. */
export function timing(raw: Partial<Record<OptionKey, RawValue>>): { deadlineMs: number; graceMs: number } {
  const graceMs = seconds(raw.grace, 30);
  const deadlineMs = raw.deadline ? seconds(raw.deadline, 0) : defaultDeadlineMs(graceMs);
  // Only a deadline that is set can fail this: the default is always shorter.
  if (raw.deadline && deadlineMs >= graceMs) {
    const grace = raw.grace ? `${raw.grace.source}=${raw.grace.value}` : "JOBGUARD_GRACE (unset: 30)";
    throw new UsageError(
      `${raw.deadline.source}=${raw.deadline.value} must be shorter than the grace period, ${grace}, to leave time for cleanup before the platform's SIGKILL (leave the deadline unset and it follows the grace)`,
    );
  }
  return { deadlineMs, graceMs };
}

/**
 * The deadline where none is set: the grace minus the time jobguard's cleanup
 * needs (kill the tree, connect, release, exit half a second early), so that
 * setting the platform's grace alone is enough. A quarter of the grace, at most
 * 5 s (30 -> 25, 10 -> 7.5, 5 -> 3.75, 90 -> 85), and at least 1 s, since a
 * connection to a database in another region takes a few hundred milliseconds;
 * under a 2 s grace, half of it, so that the worker keeps some time of its own.
 */
function defaultDeadlineMs(graceMs: number): number {
  const cleanupMs = Math.min(5000, Math.max(1000, graceMs / 4), graceMs / 2);
  return Math.round(graceMs - cleanupMs);
}
