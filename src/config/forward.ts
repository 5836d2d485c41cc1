import type { RawValue } from "./options.js";
import { oneOf } from "./values.js";

/** Whether jobguard re-sends SIGTERM to the worker. */
export type ForwardMode = "auto" | "always" | "never";

const FORWARD_MODES: readonly ForwardMode[] = ["auto", "always", "never"];

/** JOBGUARD_FORWARD, and the decision `auto` comes to, and why. */
export interface ForwardConfig {
  forward: ForwardMode;
  forwardSigterm: boolean;
  forwardReason: string;
}

/** Reads JOBGUARD_FORWARD; unset, the worker preset's mode (`preset`), else auto. */
export function forwardConfig(
  raw: RawValue | undefined,
  preset: ForwardMode | undefined,
  dyno: string | undefined,
): ForwardConfig {
  const forward = oneOf(raw, FORWARD_MODES, preset ?? "auto");
  return { forward, ...decideForward(forward, dyno) };
}

// Heroku's Cedar dyno manager signals every process in the dyno, so a forwarded
// SIGTERM would be the worker's second. Cedar names dynos `<type>.<n>`
// (`worker.1`, `run.9157`); Fir runs dynos as Kubernetes pods, named like
// `worker-12a34b56d-e78f9`, whose SIGTERM goes to the container's main process
// only, as anywhere else.
const CEDAR_DYNO = /^[A-Za-z0-9_-]+\.\d+$/;

function decideForward(mode: ForwardMode, dyno: string | undefined) {
  if (mode !== "auto") return { forwardSigterm: mode === "always", forwardReason: mode };
  if (dyno !== undefined && CEDAR_DYNO.test(dyno)) {
    return { forwardSigterm: false, forwardReason: "heroku-cedar-signals-every-process" };
  }
  return {
    forwardSigterm: true,
    forwardReason: dyno ? "heroku-fir-signals-main-process" : "platform-signals-jobguard-only",
  };
}
