import { EventEmitter } from "node:events";
import { connect as connectTcp, isIP, type Socket } from "node:net";
import type { ConnectionOptions } from "node:tls";
import { md5Password, SCRAM, ScramExchange } from "./auth.js";
import * as send from "./messages.js";
import { BodyReader, errorFields, MessageReader } from "./messages.js";
import { escapeLiteral, parserFor, toParameter } from "./values.js";

// jobguard's PostgreSQL client: one connection, the simple and the extended
// query protocol, TLS by SSLRequest, passwords in clear, md5 and SCRAM. What
// jobguard sends is a handful of statements a minute, so it needs little of
// the protocol; in node-postgres's place it saves 0.7 MiB of idle memory, 3 MiB
// after thousands of heartbeats and 14 ms of start-up (BENCHMARKS.md, "jobguard's
// own PostgreSQL client"), and a runtime dependency.
// No COPY, LISTEN, cursors, binary format, or cancel requests: jobguard uses
// none (a statement that runs over its time is ended by dropping the
// connection, db/kept-connection.ts).

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

/** Where and as whom to connect; every field already resolved (db/connect.ts reads them from the URL, by libpq's rules). */
export interface ConnectOptions {
  /** A host name or address, or a directory holding the server's Unix socket. */
  host: string;
  port: number;
  /** Startup parameters: user, database, application_name, options... */
  parameters: Record<string, string>;
  /** Called only when the server asks for a password. */
  password: () => string;
  /** TLS options for an SSLRequest, or false to send none. */
  tls: ConnectionOptions | false;
  /** A server that declines the SSLRequest is an error, rather than a plain connection. */
  tlsRequired: boolean;
  /** The whole of connecting (TCP, TLS, authentication) must take no longer. */
  timeoutMs: number;
  keepAliveMs: number;
  /** Aborting it destroys the connection, connecting or connected. */
  signal?: AbortSignal;
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
export function connect(options: ConnectOptions): Promise<Connection> {
  return new Connection().open(options);
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
  /** The startup's handlers until the server is ready; then null. */
  private starting: { onMessage(type: number, body: Buffer): void; fail(error: Error): void } | null = null;
  private failure: Error | undefined;
  /** The first error of the socket itself. */
  private socketError: Error | undefined;
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

  async open(options: ConnectOptions): Promise<this> {
    options.signal?.throwIfAborted();
    const path = options.host.startsWith("/") ? `${options.host}/.s.PGSQL.${options.port}` : undefined;
    this.socket = path ? connectTcp({ path }) : connectTcp({ host: options.host, port: options.port });
    // From the first moment: an error with no listener would be uncaught, and end jobguard.
    this.socket.on("error", (error: Error) => this.noteSocketError(error));
    this.socket.setNoDelay(true);
    if (!path) this.socket.setKeepAlive(true, options.keepAliveMs);
    const timer = setTimeout(() => this.socket.destroy(timedOut(options.timeoutMs)), options.timeoutMs);
    options.signal?.addEventListener("abort", () => this.socket.destroy(), { once: true });
    try {
      await settled(this.socket, "connect");
      if (options.tls) this.socket = await this.negotiateTls(this.socket, options, options.tls);
      await this.startup(options);
      return this;
    } catch (error) {
      this.socket.destroy();
      // Where the socket failed (the time limit, a reset), its error says more than "terminated".
      throw this.socketError ?? error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** SSLRequest: on "S" the socket becomes a TLS one; on "N" it stays plain, unless TLS is required. */
  private async negotiateTls(
    plain: Socket,
    options: ConnectOptions,
    tls: ConnectionOptions,
  ): Promise<Socket> {
    plain.write(send.sslRequest());
    const [answer] = (await settled(plain, "data")) as [Buffer];
    // An old server, or one that cannot start a backend (out of processes), answers with an ErrorResponse.
    if (answer[0] === 0x45 /* E */ && answer.length > 5)
      throw new DatabaseError(errorFields(answer.subarray(5)));
    // Bytes after the one of the answer came before the handshake, in the clear, from anyone in between (CVE-2021-23222).
    if (answer.length > 1)
      throw new Error("the database sent unencrypted data after its answer to the SSL request");
    if (answer[0] === 0x4e /* N */) {
      if (options.tlsRequired) throw new Error("the server does not support SSL connections");
      return plain;
    }
    if (answer[0] !== 0x53 /* S */) throw new Error("the database did not answer the SSL request");
    const { connect: connectTls } = await import("node:tls");
    // The server's name, for SNI and verify-full; an address is not a name (RFC 6066).
    const servername = isIP(options.host) ? undefined : options.host;
    const secure = connectTls({ ...tls, socket: plain, servername, host: options.host });
    secure.on("error", (error: Error) => this.noteSocketError(error));
    await settled(secure, "secureConnect");
    return secure;
  }

  /** The startup message and authentication, until the server is ready for a query. */
  private startup(options: ConnectOptions): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = this.socket;
      const fail = (error: Error) => {
        this.starting = null;
        reject(error);
        socket.destroy();
      };
      const write = (bytes: Buffer | Promise<Buffer>) =>
        void Promise.resolve(bytes).then((b) => socket.write(b), fail);
      // A SCRAM exchange once begun must end with the server's proof before
      // AuthenticationOk: a server (or anyone between) that skips it, or falls
      // back to another method, is refused. No ReadyForQuery before AuthenticationOk.
      let scram: { exchange: ScramExchange; verified: boolean } | undefined;
      let authenticated = false;
      const authenticate = (body: Buffer) => {
        const reader = new BodyReader(body);
        const code = reader.int32();
        if (code === 0 && (!scram || scram.verified)) return void (authenticated = true);
        if (scram) {
          if (code === 11)
            return write(scram.exchange.final(reader.rest().toString("utf8")).then(send.saslResponse));
          if (code === 12) {
            scram.exchange.verify(reader.rest().toString("utf8"));
            return void (scram.verified = true);
          }
          throw new Error(`SCRAM: the server broke off the exchange (code ${code})`);
        }
        if (code === 3) return write(send.password(options.password()));
        if (code === 5) {
          const salt = reader.bytes(4)!;
          return write(send.password(md5Password(options.parameters.user!, options.password(), salt)));
        }
        if (code === 10) {
          const mechanisms: string[] = [];
          for (let name = reader.cstring(); name; name = reader.cstring()) mechanisms.push(name);
          if (!mechanisms.includes(SCRAM))
            throw new Error(`the server asks for SASL by ${mechanisms.join(", ")}; jobguard knows ${SCRAM}`);
          scram = { exchange: new ScramExchange(options.password()), verified: false };
          return write(send.saslInitialResponse(SCRAM, scram.exchange.first()));
        }
        throw new Error(
          `the server asks for an authentication jobguard does not support (code ${code}): use a password, md5 or SCRAM`,
        );
      };
      this.starting = {
        fail,
        onMessage: (type, body) => {
          if (type === 0x45 /* E */) return fail(new DatabaseError(errorFields(body)));
          if (type === 0x52 /* R */) return authenticate(body);
          if (type === 0x5a /* Z */) {
            if (!authenticated)
              return fail(new Error("the database said it was ready before it authenticated jobguard"));
            this.starting = null;
            resolve();
          }
          // ParameterStatus, BackendKeyData, notices: nothing jobguard needs.
        },
      };
      if (socket.destroyed) return fail(this.failure ?? terminated());
      this.watch(socket);
      socket.write(send.startup(options.parameters));
    });
  }

  private noteSocketError(error: Error): void {
    this.socketError ??= error;
    this.failure ??= error;
  }

  /** From the startup on, every byte from the server goes to the reader. */
  private watch(socket: Socket): void {
    socket.on("data", (chunk: Buffer) => {
      try {
        this.reader.push(chunk);
      } catch (error) {
        socket.destroy(error as Error);
      }
    });
    socket.on("close", () => this.onClose());
  }

  private onMessage(type: number, body: Buffer): void {
    // What is left of a chunk after the connection was dropped (a COPY refused, say) is not read.
    if (this.socket.destroyed) return;
    if (this.starting) {
      try {
        this.starting.onMessage(type, body);
      } catch (error) {
        this.starting?.fail(error as Error);
      }
      return;
    }
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
    if (this.starting) return this.starting.fail(error);
    const waiting = this.pending.splice(0);
    for (const pending of waiting) pending.reject(pending.error ?? error);
    if (!this.ended && waiting.length === 0 && this.listenerCount("error") > 0) this.emit("error", error);
  }
}

/**
 * Resolves with the event's arguments when `socket` emits it; rejects when the
 * socket fails or closes first. Its listeners are removed either way.
 */
function settled(socket: Socket, event: string): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    if (socket.destroyed) return reject(terminated());
    const onEvent = (...args: unknown[]) => done(() => resolve(args));
    const onError = (error: Error) => done(() => reject(error));
    const onClose = () => done(() => reject(terminated()));
    const done = (settle: () => void) => {
      socket.off(event, onEvent).off("error", onError).off("close", onClose);
      settle();
    };
    socket.once(event, onEvent).once("error", onError).once("close", onClose);
  });
}

/** ETIMEDOUT, so that db/retry.ts treats it as the network trouble it is. */
function timedOut(ms: number): Error {
  return Object.assign(new Error(`connecting timed out after ${ms} ms`), { code: "ETIMEDOUT" });
}

/** node-postgres's words for a connection that closed under a statement; db/retry.ts knows them as transient. */
function terminated(): Error {
  return new Error("Connection terminated unexpectedly");
}
