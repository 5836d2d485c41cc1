import { readFileSync, readlinkSync } from "node:fs";

/**
 * The pid namespace jobguard and its worker run in, as "<boot id>/<inode>":
 * a namespace's inode is unique only while the machine runs, so the boot id
 * makes it unique across reboots too. Two containers that share a host name
 * (host networking) have different ones, and their workers may have the same
 * pids: a lease records it, so that the one never releases "host:H pid:P" for
 * the other. Undefined where it cannot be read (then none is recorded).
 */
export function pidNamespace(): string | undefined {
  try {
    const boot = readFileSync("/proc/sys/kernel/random/boot_id", "latin1").trim();
    // "pid:[4026531836]"
    const inode = /\[(\d+)\]/.exec(readlinkSync("/proc/self/ns/pid"))?.[1];
    return inode ? `${boot}/${inode}` : undefined;
  } catch {
    return undefined;
  }
}
