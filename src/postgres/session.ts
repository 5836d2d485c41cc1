import { connect as connectTcp, isIP, type Socket } from "node:net";
import type { ConnectionOptions } from "node:tls";
import { md5Password, SCRAM, ScramExchange } from "./auth.js";
import * as send from "./messages.js";
import { BodyReader, errorFields, MessageReader } from "./messages.js";
import { DatabaseError, terminated } from "./errors.js";

// A session's beginning: the socket, TLS by SSLRequest, the startup message
// and the login, until the server is ready for a query. client.ts takes the
// socket from there.

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

/** A socket the server is ready on, paused, and what it sent after its ReadyForQuery. */
export interface Session {
  socket: Socket;
  rest: Buffer;
}

/**
 * Connects, negotiates TLS and logs in within options.timeoutMs. On failure
 * the socket is destroyed, and the error is the socket's own where it failed
 * (the time limit, a reset): that says more than "terminated".
 */
export async function startSession(options: ConnectOptions): Promise<Session> {
  options.signal?.throwIfAborted();
  const path = options.host.startsWith("/") ? `${options.host}/.s.PGSQL.${options.port}` : undefined;
  let socket = path ? connectTcp({ path }) : connectTcp({ host: options.host, port: options.port });
  let socketError: Error | undefined;
  // From the first moment, on every socket: an error with no listener would be uncaught, and end jobguard.
  const noteError = (error: Error) => (socketError ??= error);
  socket.on("error", noteError);
  socket.setNoDelay(true);
  if (!path) socket.setKeepAlive(true, options.keepAliveMs);
  const timer = setTimeout(() => socket.destroy(timedOut(options.timeoutMs)), options.timeoutMs);
  const abort = () => socket.destroy();
  options.signal?.addEventListener("abort", abort, { once: true });
  try {
    await settled(socket, "connect");
    const secure = options.tls ? await negotiateTls(socket, options, options.tls) : undefined;
    if (secure) {
      socket = secure;
      socket.on("error", noteError);
      await settled(socket, "secureConnect");
    }
    return { socket, rest: await logIn(socket, options) };
  } catch (error) {
    socket.destroy();
    throw socketError ?? error;
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", abort);
  }
}

/** SSLRequest: on "S" the TLS socket over this one (its handshake under way); on "N" none, unless TLS is required. */
async function negotiateTls(
  plain: Socket,
  options: ConnectOptions,
  tls: ConnectionOptions,
): Promise<Socket | undefined> {
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
    return undefined;
  }
  if (answer[0] !== 0x53 /* S */) throw new Error("the database did not answer the SSL request");
  const { connect: connectTls } = await import("node:tls");
  // The server's name, for SNI and verify-full; an address is not a name (RFC 6066).
  const servername = isIP(options.host) ? undefined : options.host;
  return connectTls({ ...tls, socket: plain, servername, host: options.host });
}

/**
 * The startup message and the login, until ReadyForQuery; resolves with the
 * bytes that came after it, the socket paused. A SCRAM exchange once begun
 * must end with the server's proof before AuthenticationOk: a server (or
 * anyone between) that skips it, or falls back to another method, is refused.
 * No ReadyForQuery before AuthenticationOk.
 */
function logIn(socket: Socket, options: ConnectOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let scram: { exchange: ScramExchange; verified: boolean } | undefined;
    let authenticated = false;
    let done = false;
    const finish = (outcome: () => void) => {
      if (done) return;
      done = true;
      socket.off("data", onData).off("close", onClose);
      outcome();
    };
    const fail = (error: Error) => finish(() => reject(error));
    const write = (bytes: Buffer | Promise<Buffer>) =>
      void Promise.resolve(bytes).then((b) => done || socket.write(b), fail);
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
    // False stops the reader at ReadyForQuery: what follows is the client's.
    let ready = false;
    const reader = new MessageReader((type, body) => {
      if (done || ready) return false;
      if (type === 0x45 /* E */) throw new DatabaseError(errorFields(body));
      if (type === 0x52 /* R */) authenticate(body);
      if (type === 0x5a /* Z */) {
        if (!authenticated)
          throw new Error("the database said it was ready before it authenticated jobguard");
        ready = true;
        return false;
      }
      // ParameterStatus, BackendKeyData, notices: nothing jobguard needs.
      return true;
    });
    const onData = (chunk: Buffer) => {
      try {
        reader.push(chunk);
      } catch (error) {
        return fail(error as Error);
      }
      if (!ready) return;
      socket.pause();
      // Once push() has returned: rest() is what came after ReadyForQuery.
      finish(() => resolve(reader.rest()));
    };
    const onClose = () => fail(terminated());
    if (socket.destroyed) return fail(terminated());
    socket.on("data", onData).on("close", onClose);
    socket.write(send.startup(options.parameters));
  });
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
