// What supervise() needs, in its own terms: supervise/ knows nothing of
// config/ (main.ts maps the checked configuration to these).

/** Whether jobguard passes SIGTERM on to the worker; `auto` also arms the fail-safe (escalate.ts). */
export type ForwardMode = "auto" | "always" | "never";

/** The step before the deadline kill: the worker's own last step, if it has one. */
export interface Escalation {
  /** The worker's preset, which names the step in the log. */
  worker?: string;
  /** Sent to the worker `beforeMs` before the deadline; none when undefined. */
  signal?: NodeJS.Signals;
  /** How long before the deadline the escalation (or the fail-safe) comes. */
  beforeMs: number;
}

/** Everything one supervised run needs. */
export interface SuperviseOptions {
  /** From the first SIGTERM or SIGINT until the whole tree is killed. */
  deadlineMs: number;
  /** The platform's, from its SIGTERM to its SIGKILL; longer than the deadline. */
  graceMs: number;
  forward: ForwardMode;
  /** What `forward` came to here (auto decides by the platform), and why. */
  forwardSigterm: boolean;
  forwardReason: string;
  escalation: Escalation;
  /** The queue whose locks the release port hands back, named in the `started` line. */
  queue?: string;
  /** There is no /proc here: a plain supervisor of the worker's process group (without-proc.ts). */
  withoutProc?: boolean;
}
