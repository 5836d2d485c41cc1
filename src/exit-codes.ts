/** jobguard's own exit statuses; otherwise it exits with the worker's status, or 128 + the signal that killed it. */
export const EXIT = {
  OK: 0,
  /** A bad option or environment variable, or no /proc to supervise with: nothing was started. */
  USAGE: 2,
  /** The worker outlived the deadline and its tree was killed (its locks released, with a queue). */
  KILLED_AT_DEADLINE: 124,
  /**
   * jobguard failed, as timeout(1)'s 125 says: the tree would not die or refused a
   * signal, its locks could not be released, or an internal error ended the run.
   */
  CLEANUP_FAILED: 125,
  /** The command exists but cannot be executed. */
  NOT_EXECUTABLE: 126,
  /** The command was not found. */
  NOT_FOUND: 127,
} as const;
