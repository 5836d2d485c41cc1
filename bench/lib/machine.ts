import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg, release, totalmem } from "node:os";
import { REPO_ROOT } from "../../tools/repo.js";
import { firstLine, which } from "./common.js";

/** What the numbers were taken on. */
export function describeMachine(): string[] {
  let model = cpus()[0]?.model ?? "unknown";
  try {
    model = /^model name\s*:\s*(.*)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? model;
  } catch {
    /* not Linux */
  }
  const tool = (name: string, args: string[]) =>
    which(name) ? (firstLine(name, args) ?? "installed") : "not installed";
  const git = spawnSync("git", ["describe", "--always", "--dirty"], { cwd: REPO_ROOT, encoding: "utf8" });
  const pkg = JSON.parse(readFileSync(`${REPO_ROOT}/package.json`, "utf8")) as { version: string };
  return [
    `CPU: ${model}, ${availableParallelism()} cores available (${cpus().length} online)`,
    `Memory: ${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `Kernel: Linux ${release()}`,
    `Node: ${process.version}`,
    `jobguard: ${pkg.version} (${git.status === 0 ? git.stdout.trim() : "no git"})`,
    `tini: ${tool("tini", ["--version"])}; dumb-init: ${tool("dumb-init", ["--version"])}; hyperfine: ${tool("hyperfine", ["--version"])}`,
  ];
}

/** The 1-minute load average, to show how busy the machine was. */
export function load(): string {
  return loadavg()[0]!.toFixed(2);
}
