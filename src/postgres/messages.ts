// The PostgreSQL wire protocol (version 3.0), as far as jobguard speaks it:
// the frontend messages it sends, and a reader that cuts what the server
// sends into messages. Pure: no sockets here (session.ts and client.ts have them).

/** A message to the server: its type byte (none for the startup and SSL requests) and its body. */
function message(type: string | null, ...parts: (Buffer | number)[]): Buffer {
  // A number is an Int32; a Buffer goes as it is.
  const body = Buffer.concat(parts.map((part) => (typeof part === "number" ? int32(part) : part)));
  const head =
    type === null ? int32(body.length + 4) : Buffer.concat([Buffer.from(type), int32(body.length + 4)]);
  return Buffer.concat([head, body]);
}

function int32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeInt32BE(value);
  return buffer;
}

function int16(value: number): Buffer {
  const buffer = Buffer.alloc(2);
  buffer.writeInt16BE(value);
  return buffer;
}

/** A NUL-terminated UTF-8 string; a NUL inside would cut it short on the server, so it is refused. */
function cstring(text: string): Buffer {
  if (text.includes("\0")) throw new Error("a string sent to the database may not hold a NUL character");
  return Buffer.from(`${text}\0`, "utf8");
}

const PROTOCOL_3_0 = 196608;
const SSL_REQUEST_CODE = 80877103;

export const sslRequest = (): Buffer => message(null, SSL_REQUEST_CODE);

/** The startup message: protocol 3.0 and the session's parameters (user, database, application_name...). */
export function startup(parameters: Record<string, string>): Buffer {
  const pairs = Object.entries(parameters).flatMap(([name, value]) => [cstring(name), cstring(value)]);
  return message(null, PROTOCOL_3_0, ...pairs, Buffer.from([0]));
}

export const password = (text: string): Buffer => message("p", cstring(text));

export function saslInitialResponse(mechanism: string, data: string): Buffer {
  const bytes = Buffer.from(data, "utf8");
  return message("p", cstring(mechanism), bytes.length, bytes);
}

export const saslResponse = (data: string): Buffer => message("p", Buffer.from(data, "utf8"));

/** A simple query: the server runs each of its statements, and answers with a result for each. */
export const query = (text: string): Buffer => message("Q", cstring(text));

/**
 * One statement of the extended protocol, in one write: Parse (the unnamed
 * statement, types left to the server), Bind (the unnamed portal, every
 * parameter and column in text), Describe (its columns), Execute (every row),
 * Sync (commit if not in a transaction, and a ReadyForQuery to end the answer).
 * `values`: text, or null for SQL NULL.
 */
export function extendedQuery(text: string, values: readonly (string | null)[]): Buffer {
  const params = values.map((value) => {
    if (value === null) return int32(-1);
    const bytes = Buffer.from(value, "utf8");
    return Buffer.concat([int32(bytes.length), bytes]);
  });
  return Buffer.concat([
    message("P", cstring(""), cstring(text), int16(0)),
    message("B", cstring(""), cstring(""), int16(0), int16(values.length), ...params, int16(0)),
    message("D", Buffer.from("P"), cstring("")),
    message("E", cstring(""), 0),
    message("S"),
  ]);
}

export const terminate = (): Buffer => message("X");

// A message larger than this is not one the server sends jobguard's
// statements: a corrupt length, which would otherwise buffer without end.
const MAX_MESSAGE = 64 * 1024 * 1024;

/**
 * Cuts the byte stream from the server into messages, each handed to
 * onMessage with its type byte and body, in order.
 */
export class MessageReader {
  /** Bytes of a message not yet whole, as they came: joined once it is (a large row comes in many chunks). */
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** What the incomplete message needs in all, once its header is in. */
  private needed = 5;

  /** onMessage may return false: the reader stops there, and rest() has what came after. */
  constructor(private readonly onMessage: (type: number, body: Buffer) => boolean | void) {}

  /** Takes the next bytes from the socket; throws on a length no message can have. */
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    if (this.buffered < this.needed) return;
    const buffer = this.chunks.length === 1 ? chunk : Buffer.concat(this.chunks);
    let offset = 0;
    for (;;) {
      if (buffer.length - offset < 5) {
        this.needed = 5;
        break;
      }
      const length = buffer.readInt32BE(offset + 1);
      if (length < 4 || length > MAX_MESSAGE)
        throw new Error(`the database sent a message of length ${length}`);
      if (buffer.length - offset < 1 + length) {
        this.needed = 1 + length;
        break;
      }
      const type = buffer[offset]!;
      const body = buffer.subarray(offset + 5, offset + 1 + length);
      offset += 1 + length;
      if (this.onMessage(type, body) === false) break;
    }
    const rest = buffer.subarray(offset);
    this.chunks = rest.length ? [rest] : [];
    this.buffered = rest.length;
  }

  /** The bytes read and not yet handed out. */
  rest(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** Reads the fields of a message body in order. */
export class BodyReader {
  private offset = 0;

  constructor(private readonly body: Buffer) {}

  int16(): number {
    const value = this.body.readInt16BE(this.offset);
    this.offset += 2;
    return value;
  }

  int32(): number {
    const value = this.body.readInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  cstring(): string {
    const end = this.body.indexOf(0, this.offset);
    if (end === -1) throw new Error("the database sent a string without its end");
    const text = this.body.toString("utf8", this.offset, end);
    this.offset = end + 1;
    return text;
  }

  /** The next `length` bytes, or null for -1 (a NULL). */
  bytes(length: number): Buffer | null {
    if (length < 0) return null;
    const value = this.body.subarray(this.offset, this.offset + length);
    this.offset += length;
    return value;
  }

  rest(): Buffer {
    return this.body.subarray(this.offset);
  }
}

/** The fields of an ErrorResponse or NoticeResponse, by their one-letter codes (C the SQLSTATE, M the message). */
export function errorFields(body: Buffer): Map<string, string> {
  const fields = new Map<string, string>();
  let offset = 0;
  while (offset < body.length && body[offset] !== 0) {
    const end = body.indexOf(0, offset + 1);
    if (end === -1) break;
    fields.set(String.fromCharCode(body[offset]!), body.toString("utf8", offset + 1, end));
    offset = end + 1;
  }
  return fields;
}
