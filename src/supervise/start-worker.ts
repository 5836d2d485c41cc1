import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { readProcess } from "../process-tree/proc.js";
import type { TreeIdentity } from "../process-tree/tree.js";
import { EXIT, type ExitStatus } from "./exit.js";

/** The worker could not be started; carries the shell's exit status for it (127 or 126). */
export class SpawnError extends Error {
  constructor(
    message: string,
    readonly exitCode: typeof EXIT.NOT_EXECUTABLE | typeof EXIT.NOT_FOUND,
  ) {
    super(message);
  }
}

/** A started worker: its process, its tree, and promises for its start and exit. */
export interface Worker {
  child: ChildProcess;
  tree?: TreeIdentity;
  started: Promise<void>;
  exited: Promise<ExitStatus>;
}

/**
 * Starts the worker with the terminal's stdio (its logs go straight to the
 * platform's stream) in a session and process group of its own, so that a
 * terminal's Ctrl-C reaches jobguard alone and is forwarded exactly once, and so
 * that the whole group can be killed at once.
 */
export function startWorker(command: string[], env: NodeJS.ProcessEnv, marker: string): Worker {
  const [file, ...args] = command as [string, ...string[]];
  const child = spawn(file, args, { stdio: "inherit", env, detached: true });
  // Read the start time now, while the child cannot have been reaped yet: with
  // the pid it identifies the root even if the pid is later reused.
  const root = child.pid === undefined ? undefined : readProcess(child.pid);
  const tree = root && { rootPid: root.pid, rootStartTime: root.startTime, marker };
  const started = new Promise<void>((resolve, reject) => {
    child.once("spawn", resolve);
    child.once("error", (error: NodeJS.ErrnoException) => reject(spawnError(file, error)));
  });
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
  });
  return { child, tree, started, exited };
}

function spawnError(file: string, error: NodeJS.ErrnoException): Error {
  if (error.code === "ENOENT") {
    // execvp says ENOENT both for a missing file and for a script whose #! interpreter is missing.
    return file.includes("/") && existsSync(file)
      ? new SpawnError(`cannot run ${file}: its interpreter (the #! line) was not found`, EXIT.NOT_FOUND)
      : new SpawnError(`command not found: ${file}`, EXIT.NOT_FOUND);
  }
  if (error.code === "EACCES")
    return new SpawnError(`permission denied: ${file} is not an executable file`, EXIT.NOT_EXECUTABLE);
  return new SpawnError(`cannot run ${file}: ${error.message}`, EXIT.NOT_EXECUTABLE);
}
