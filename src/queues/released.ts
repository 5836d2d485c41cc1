import type { Released } from "./adapter.js";

/** The rows of a counted release, (id, failed), as Released: the jobs put back, and those marked failed. */
export function released(rows: readonly { id: string; failed: boolean }[]): Released {
  const ids = rows.filter((r) => !r.failed).map((r) => String(r.id));
  const failed = rows.filter((r) => r.failed).map((r) => String(r.id));
  return { count: ids.length, ids, failed };
}
