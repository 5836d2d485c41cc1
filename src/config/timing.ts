import { UsageError, type OptionKey, type RawValue } from "./options.js";
import { seconds } from "./values.js";

/** JOBGUARD_DEADLINE and JOBGUARD_GRACE, checked against each other. */
export function timing(raw: Partial<Record<OptionKey, RawValue>>): { deadlineMs: number; graceMs: number } {
  const deadlineMs = seconds(raw.deadline, 25);
  const graceMs = seconds(raw.grace, 30);
  if (deadlineMs >= graceMs) {
    throw new UsageError(
      `the deadline (${deadlineMs / 1000} s) must be shorter than the grace period (${graceMs / 1000} s), to leave time for cleanup before the platform's SIGKILL`,
    );
  }
  return { deadlineMs, graceMs };
}
