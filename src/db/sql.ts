/** A table name, [schema, table] or [table], quoted part by part: the one place identifiers are escaped. */
export function quoteTable(table: readonly string[]): string {
  return table.map((part) => `"${part.replace(/"/g, '""')}"`).join(".");
}
