/**
 * Milliseconds on a monotonic clock, from an arbitrary origin. Every duration
 * jobguard keeps and every "until" it computes (the deadline, exit-by, the
 * release's attempts) is in these terms: the wall clock (Date.now()) steps
 * when NTP sets it or a VM resumes, and a step of a few seconds forward would
 * skip the kill, a step back would hold jobguard past the grace. Wall-clock
 * time is only for what is written for humans or compared with the
 * database's and the kernel's times (a lock's locked_at, a process's start).
 */
export function now(): number {
  return performance.now();
}
