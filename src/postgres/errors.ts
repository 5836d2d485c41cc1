// The errors a connection reports. Pure.

/** An error the server reported: its SQLSTATE in `code`, its message as the message. */
export class DatabaseError extends Error {
  readonly code: string | undefined;
  readonly severity: string | undefined;
  readonly detail: string | undefined;

  constructor(fields: Map<string, string>) {
    super(fields.get("M") ?? "the database reported an error without a message");
    this.code = fields.get("C");
    this.severity = fields.get("V") ?? fields.get("S");
    this.detail = fields.get("D");
  }
}

/** node-postgres's words for a connection that closed under a statement; db/retry.ts knows them as transient. */
export function terminated(): Error {
  return new Error("Connection terminated unexpectedly");
}
