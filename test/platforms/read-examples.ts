import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "../../tools/repo.js";

// Readers for the copy-paste examples in docs/platforms/examples/, just enough
// for the settings the pages state. Each throws when its file no longer has
// the shape it reads, so a changed example fails its test rather than passing
// on a setting it did not find.

const DIR = join(REPO_ROOT, "docs/platforms/examples");

/** An example's text. */
export function example(name: string): string {
  return readFileSync(join(DIR, name), "utf8");
}

function found<T>(value: T | undefined | null, what: string): T {
  if (value === undefined || value === null) throw new Error(`docs/platforms/examples: ${what} not found`);
  return value;
}

/** The Dockerfile's instructions that decide who gets which signal. */
export interface Dockerfile {
  /** The JSON array of an exec-form instruction; undefined for the shell form. */
  entrypoint: string[] | undefined;
  cmd: string[] | undefined;
  env: Record<string, string>;
  stopSignal: string | undefined;
}

export function dockerfile(): Dockerfile {
  const lines = example("Dockerfile").split("\n");
  const instruction = (name: string) => lines.find((l) => l.startsWith(`${name} `))?.slice(name.length + 1);
  const execForm = (name: string) => {
    const text = found(instruction(name), `the Dockerfile's ${name}`);
    return text.trim().startsWith("[") ? (JSON.parse(text) as string[]) : undefined;
  };
  const env: Record<string, string> = {};
  for (const line of lines.filter((l) => l.startsWith("ENV "))) {
    const [key, value] = line.slice(4).split("=");
    env[found(key, "an ENV name")] = found(value, `the value of ENV ${key}`);
  }
  return {
    entrypoint: execForm("ENTRYPOINT"),
    cmd: execForm("CMD"),
    env,
    stopSignal: instruction("STOPSIGNAL"),
  };
}

/** A systemd unit's [Service] settings; Environment= lines are gathered into `env`. */
export function systemdUnit(): { settings: Record<string, string>; env: Record<string, string> } {
  const settings: Record<string, string> = {};
  const env: Record<string, string> = {};
  for (const line of example("jobguard-worker.service").split("\n")) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (!match) continue;
    const [, key, value] = match as unknown as [string, string, string];
    if (key === "Environment") {
      const [name, ...rest] = value.split("=");
      env[found(name, "an Environment= name")] = rest.join("=");
    } else settings[key] = value;
  }
  return { settings, env };
}

/** fly.toml's top-level keys and its [env] table (flat TOML: `key = value` lines only). */
export function flyToml(): { top: Record<string, string | number>; env: Record<string, string> } {
  const top: Record<string, string | number> = {};
  const env: Record<string, string> = {};
  let table = "";
  for (const line of example("fly.toml").split("\n")) {
    const header = /^\s*\[([^\]]+)\]\s*$/.exec(line);
    if (header) {
      table = header[1]!;
      continue;
    }
    const pair = /^\s*([A-Za-z_]+)\s*=\s*(.+?)\s*$/.exec(line);
    if (!pair) continue;
    const [, key, raw] = pair as unknown as [string, string, string];
    const value = raw.startsWith('"') ? (JSON.parse(raw) as string) : Number(raw);
    if (table === "") top[key] = value;
    else if (table === "env") env[key] = String(value);
  }
  return { top, env };
}

/** The value of `- name: NAME` / `value: "..."` in a Kubernetes container's env list. */
function kubernetesEnv(text: string, name: string): string | undefined {
  return new RegExp(`- name: ${name}\\n\\s+value: "?([^"\\n]+)"?`).exec(text)?.[1];
}

/** The Kubernetes manifest's settings that decide the grace and the signal. */
export function kubernetes(): {
  terminationGracePeriodSeconds: number;
  preStopSeconds: number;
  grace: string | undefined;
  overridesEntrypoint: boolean;
} {
  const text = example("kubernetes.yaml");
  const period = /terminationGracePeriodSeconds: (\d+)/.exec(text)?.[1];
  // A preStop hook's time is known for Kubernetes' own sleep action only.
  const preStop = /preStop:\s*\n\s*sleep:\s*\n\s*seconds: (\d+)/.exec(text)?.[1];
  if (/preStop:/.test(text) && preStop === undefined) throw new Error("a preStop hook whose time is unknown");
  return {
    terminationGracePeriodSeconds: Number(found(period, "terminationGracePeriodSeconds")),
    preStopSeconds: preStop === undefined ? 0 : Number(preStop),
    grace: kubernetesEnv(text, "JOBGUARD_GRACE"),
    overridesEntrypoint: /^\s+command:/m.test(text),
  };
}

/** compose.yaml's worker service: its stop settings, init and environment (`KEY: value` lines). */
export function compose(): {
  stopGracePeriod: string | undefined;
  stopSignal: string | undefined;
  init: boolean;
  env: Record<string, string>;
} {
  const text = example("compose.yaml");
  const env: Record<string, string> = {};
  const block = /\n {4}environment:\n((?: {6}.+\n)+)/.exec(text)?.[1] ?? "";
  for (const match of block.matchAll(/^ {6}([A-Z_]+): "?([^"\n]*)"?$/gm)) env[match[1]!] = match[2]!;
  return {
    stopGracePeriod: /^\s+stop_grace_period: (\S+)/m.exec(text)?.[1],
    stopSignal: /^\s+stop_signal: (\S+)/m.exec(text)?.[1],
    init: /^\s+init: true/m.test(text),
    env,
  };
}

/** render.yaml's worker: its shutdown delay and plain `key`/`value` environment pairs. */
export function render(): {
  maxShutdownDelaySeconds: number;
  env: Record<string, string>;
  runtime: string | undefined;
} {
  const text = example("render.yaml");
  const env: Record<string, string> = {};
  for (const match of text.matchAll(/- key: ([A-Z_]+)\n\s+value: "?([^"\n]*)"?/g)) env[match[1]!] = match[2]!;
  const delay = /maxShutdownDelaySeconds: (\d+)/.exec(text)?.[1];
  return {
    maxShutdownDelaySeconds: Number(found(delay, "maxShutdownDelaySeconds")),
    env,
    runtime: /runtime: (\S+)/.exec(text)?.[1],
  };
}

/** The ECS task definition's one container. */
export interface EcsContainer {
  stopTimeout?: number;
  linuxParameters?: { initProcessEnabled?: boolean };
  entryPoint?: string[];
  command?: string[];
  environment?: { name: string; value: string }[];
}

export function ecsContainer(): EcsContainer {
  const definition = JSON.parse(example("ecs-task-definition.json")) as {
    containerDefinitions: EcsContainer[];
  };
  return found(definition.containerDefinitions[0], "the task definition's container");
}

/** railway.json's deploy settings. */
export function railway(): { drainingSeconds?: unknown } {
  return (JSON.parse(example("railway.json")) as { deploy: { drainingSeconds?: unknown } }).deploy;
}
