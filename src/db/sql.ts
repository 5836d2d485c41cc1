/** A table name, [schema, table] or [table], quoted part by part: the one place identifiers are escaped. */
export function quoteTable(table: readonly string[]): string {
  return table.map((part) => `"${part.replace(/"/g, '""')}"`).join(".");
}

/**
 * A select-list expression that turns JIT compilation off for the rest of the
 * transaction, where the server has JIT (PostgreSQL 11 and later). jobguard's
 * statements touch a few rows each, but the planner may guess them costly
 * (a seek per name on a partial expression index, which it has no statistics
 * for), and JIT would then compile them first: up to 230 ms measured, for a statement
 * that runs in one or two.
 */
export const JIT_OFF =
  "CASE WHEN current_setting('jit', true) IS NOT NULL THEN set_config('jit', 'off', true) END";
