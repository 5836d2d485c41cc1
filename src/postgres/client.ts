import { EventEmitter } from "node:events";
import type { Socket } from "node:net";
import { DatabaseError, terminated } from "./errors.js";
import * as send from "./messages.js";
import { BodyReader, errorFields, MessageReader } from "./messages.js";
import { startSession, type ConnectOptions, type Session } from "./session.js";
import { escapeLiteral, parserFor, toParameter } from "./values.js";

export { DatabaseError } from "./errors.js";
export type { ConnectOptions } from "./session.js";

// jobguard's PostgreSQL client, a connection's statements: the simple and
// the extended query protocol, pipelined, answered in order (session.ts opens
// the connection: TLS, the login). jobguard sends a handful of statements a
// minute and needs little of the protocol; in node-postgres's place the client
// saves a runtime dependency, 0.7 MiB of idle memory and 14 ms of start-up
// (BENCHMARKS.md, "jobguard's own PostgreSQL client"; over half an hour of
// heartbeats, no memory). No COPY, LISTEN, cursors, binary format or cancel
// requests: jobguard uses none (a statement that runs over its time is ended by
// dropping the connection, db/kept-connection.ts).

/** A statement's answer: its rows, and the count its command tag reports (null for BEGIN and the like). */
export interface QueryResult<R = Record<string, unknown>> {
  rows: R[];
  rowCount: number | null;
}

/** A statement, as text or with `queryMode: "extended"` to send it by Parse even without parameters (it must then be one statement). */
export type Statement = string | { text: string; queryMode?: "extended" };

/**
 * What jobguard's SQL needs of a connection. node-postgres's Client has the
 * same shape (the tests hand it to the same functions).
 *
 * A query with parameters, or in extended mode, is one statement. One without
 * is a simple query and may hold several: then, as in node-postgres, it
 * resolves to an array of their results.
 */
export interface Client {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- rows are typed by the caller, as node-postgres's are
  query<R extends Record<string, any> = any>(
    statement: Statement,
    values?: readonly unknown[],
  ): Promise<QueryResult<R>>;
  escapeLiteral(value: string): string;
}

interface Pending {
  results: QueryResult[];
  parsers: ((text: string) => unknown)[];
  names: string[];
  rows: Record<string, unknown>[];
  error?: Error;
  resolve(results: QueryResult[]): void;
  reject(error: Error): void;
}

/** Connects and authenticates; resolves once the server is ready for a query. */
export async function connect(options: ConnectOptions): Promise<Connection> {
  return new Connection().adopt(await startSession(options), options.signal);
}

/**
 * One connection. It emits "error" once, when it breaks while no statement is
 * waiting (an idle connection the server ended); a waiting statement fails
 * with the error instead.
 */
export class Connection extends EventEmitter implements Client {
  private socket!: Socket;
  private readonly reader = new MessageReader((type, body) => this.onMessage(type, body));
  private readonly pending: Pending[] = [];
  private failure: Error | undefined;
  private ended = false;

  escapeLiteral = escapeLiteral;

  // Async, and still in order: everything up to the write runs in the call itself.
  async query<R>(statement: Statement, values?: readonly unknown[]): Promise<QueryResult<R>> {
    const text = typeof statement === "string" ? statement : statement.text;
    const extended =
      values !== undefined || (typeof statement !== "string" && statement.queryMode === "extended");
    if (this.failure) throw this.failure;
    // Throws on a NUL in the text, before anything is sent.
    const bytes = extended ? send.extendedQuery(text, (values ?? []).map(toParameter)) : send.query(text);
    const results = await new Promise<QueryResult[]>((resolve, reject) => {
      this.pending.push({ results: [], parsers: [], names: [], rows: [], resolve, reject });
      this.socket.write(bytes);
    });
    return (results.length === 1 ? results[0] : results) as QueryResult<R>;
  }

  /** Says goodbye and closes; a connection that does not close within a second is destroyed. */
  end(): Promise<void> {
    this.ended = true;
    if (this.socket.destroyed) return Promise.resolve();
    return new Promise((closed) => {
      this.socket.once("close", () => closed());
      this.socket.end(send.terminate());
      setTimeout(() => this.socket.destroy(), 1000).unref();
    });
  }

  /** Drops the connection now: what is waiting fails. */
  destroy(): void {
    this.socket.destroy();
  }

  /** Takes over a session startSession() opened: its socket, paused, and the bytes already read. */
  adopt({ socket, rest }: Session, signal: AbortSignal | undefined): this {
    this.socket = socket;
    socket.on("error", (error: Error) => (this.failure ??= error));
    socket.on("close", () => this.onClose());
    socket.on("data", (chunk: Buffer) => this.read(chunk));
    signal?.addEventListener("abort", () => socket.destroy(), { once: true });
    if (signal?.aborted) socket.destroy();
    if (rest.length) this.read(rest);
    // Closed in the moment between the login and here: its "close" has been and gone.
    if (socket.closed) this.onClose();
    socket.resume();
    return this;
  }

  private read(chunk: Buffer): void {
    try {
      this.reader.push(chunk);
    } catch (error) {
      this.socket.destroy(error as Error);
    }
  }

  private onMessage(type: number, body: Buffer): void {
    // What is left of a chunk after the connection was dropped (a COPY refused, say) is not read.
    if (this.socket.destroyed) return;
    const head = this.pending[0];
    switch (type) {
      case 0x54 /* T RowDescription */: {
        if (!head) return;
        const reader = new BodyReader(body);
        const count = reader.int16();
        head.names = [];
        head.parsers = [];
        for (let i = 0; i < count; i++) {
          head.names.push(reader.cstring());
          reader.int32(); // table oid
          reader.int16(); // column number
          const oid = reader.int32();
          reader.int16(); // size
          reader.int32(); // modifier
          reader.int16(); // format: text, as Bind asked
          head.parsers.push(parserFor(oid) ?? ((text) => text));
        }
        return;
      }
      case 0x44 /* D DataRow */: {
        if (!head) return;
        const reader = new BodyReader(body);
        const count = reader.int16();
        const row: Record<string, unknown> = {};
        for (let i = 0; i < count; i++) {
          const bytes = reader.bytes(reader.int32());
          row[head.names[i]!] = bytes === null ? null : head.parsers[i]!(bytes.toString("utf8"));
        }
        head.rows.push(row);
        return;
      }
      case 0x43 /* C CommandComplete */:
      case 0x49 /* I EmptyQueryResponse */: {
        if (!head) return;
        const tag = type === 0x43 ? new BodyReader(body).cstring() : "";
        const count = /\s(\d+)$/.exec(tag)?.[1];
        head.results.push({ rows: head.rows, rowCount: count === undefined ? null : Number(count) });
        head.rows = [];
        head.names = [];
        head.parsers = [];
        return;
      }
      case 0x45 /* E ErrorResponse */: {
        const error = new DatabaseError(errorFields(body));
        // With nothing waiting, the server is ending the session (a FATAL: a shutdown, pg_terminate_backend).
        if (head) head.error ??= error;
        else this.failure ??= error;
        return;
      }
      case 0x5a /* Z ReadyForQuery */: {
        const done = this.pending.shift();
        if (!done) return;
        if (done.error) done.reject(done.error);
        else done.resolve(done.results);
        return;
      }
      case 0x47 /* G CopyInResponse */:
      case 0x48 /* H CopyOutResponse */:
        this.socket.destroy(new Error("the database began a COPY, which jobguard never asks for"));
        return;
      default:
        // ParseComplete, BindComplete, NoData, notices, parameter changes, notifications.
        return;
    }
  }

  private onClose(): void {
    const error = this.failure ?? terminated();
    this.failure = error;
    const waiting = this.pending.splice(0);
    for (const pending of waiting) pending.reject(pending.error ?? error);
    if (!this.ended && waiting.length === 0 && this.listenerCount("error") > 0) this.emit("error", error);
  }
}
