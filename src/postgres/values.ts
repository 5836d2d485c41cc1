// Values between JavaScript and PostgreSQL's text format: the parameters
// jobguard sends, the columns it reads. Pure. The JavaScript types are
// node-postgres's, which the queue's SQL and the tests were written against:
// int2/int4/oid and floats are numbers, int8 and numeric stay strings (they
// may not fit a double), bool is boolean, timestamp and timestamptz a Date (UTC where there is no zone), json parsed,
// arrays of these arrays; every other type is its text.

/** A parameter in text format, or null for SQL NULL. */
export function toParameter(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (Array.isArray(value)) return arrayLiteral(value);
  if (value instanceof Date) return value.toISOString();
  if (Buffer.isBuffer(value)) return `\\x${value.toString("hex")}`;
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint")
    return String(value);
  return JSON.stringify(value);
}

function arrayLiteral(values: readonly unknown[]): string {
  const elements = values.map((value) => {
    if (Array.isArray(value)) return arrayLiteral(value);
    const text = toParameter(value);
    return text === null ? "NULL" : `"${text.replace(/[\\"]/g, "\\$&")}"`;
  });
  return `{${elements.join(",")}}`;
}

/** A string literal for SQL text: quotes doubled, and backslashes too in an E'' literal. */
export function escapeLiteral(value: string): string {
  const quoted = value.replace(/'/g, "''");
  return value.includes("\\") ? `E'${quoted.replace(/\\/g, "\\\\")}'` : `'${quoted}'`;
}

type Parse = (text: string) => unknown;

const int = (text: string) => Number.parseInt(text, 10);
const float = (text: string) => Number.parseFloat(text);
const bool = (text: string) => text === "t";

// By type oid (pg_type.oid, fixed for the built-in types).
const SCALARS = new Map<number, Parse>([
  [16, bool],
  [21, int],
  [23, int],
  [26, int],
  [700, float],
  [701, float],
  [114, JSON.parse],
  [3802, JSON.parse],
  [1114, timestamp],
  [1184, timestamp],
]);

// Array type oid → its element's: bool[], int2[], int4[], text[], varchar[], int8[], float4[], float8[], name[], oid[], timestamp[], timestamptz[], json[], jsonb[].
const ARRAYS = new Map<number, number>([
  [1000, 16],
  [1005, 21],
  [1007, 23],
  [1009, 25],
  [1015, 1043],
  [1016, 20],
  [1021, 700],
  [1022, 701],
  [1003, 19],
  [1028, 26],
  [1115, 1114],
  // Arrays whose elements stay text: bpchar[], numeric[], uuid[].
  [1014, 1042],
  [1231, 1700],
  [2951, 2950],
  [1185, 1184],
  [199, 114],
  [3807, 3802],
]);

/** How to read a column of this type from its text. */
export function parserFor(oid: number): Parse | undefined {
  const scalar = SCALARS.get(oid);
  if (scalar) return scalar;
  const element = ARRAYS.get(oid);
  if (element === undefined) return undefined;
  const parse = SCALARS.get(element) ?? ((text: string) => text);
  return (text) => parseArray(text, parse);
}

/**
 * A timestamp as the server writes it in the ISO DateStyle, its default and
 * the only one a session of jobguard's sees unless a role or database sets
 * another: `2026-12-07 10:00:00.123456+00` for a timestamptz, the offset
 * perhaps with minutes and seconds. Without an offset (a timestamp without
 * time zone: Rails's, delayed_job's and Solid Queue's columns), UTC, as Rails
 * writes them; node-postgres read them as the local time of the process.
 * Anything else (infinity, a BC date) stays text.
 */
function timestamp(text: string): unknown {
  const match =
    /^(\d{4,})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(\.\d+)?(?:([+-])(\d\d)(?::(\d\d))?(?::(\d\d))?)?$/.exec(
      text,
    );
  if (!match) return text;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  // Truncated to the millisecond, as node-postgres does: a Date holds no finer.
  const ms = Math.floor(Number(match[7] ?? 0) * 1000);
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, ms);
  if (match[8] === undefined) return date;
  const offsetMs = (Number(match[9]) * 3600 + Number(match[10] ?? 0) * 60 + Number(match[11] ?? 0)) * 1000;
  return new Date(date.getTime() - (match[8] === "-" ? -offsetMs : offsetMs));
}

/** A one- or more-dimensional array literal, `{a,"b c",NULL,{1,2}}`, its elements read by `parse`. */
export function parseArray(text: string, parse: Parse): unknown[] {
  let at = 0;
  // A literal may begin with its bounds, [1:2]={...}.
  if (text[0] === "[") at = text.indexOf("=") + 1;
  const read = (): unknown[] => {
    const out: unknown[] = [];
    if (text[at] !== "{")
      throw new Error(`the database sent an array that does not read: ${text.slice(0, 40)}`);
    at++;
    while (at < text.length && text[at] !== "}") {
      if (text[at] === "{") out.push(read());
      else if (text[at] === '"') {
        let value = "";
        for (at++; at < text.length && text[at] !== '"'; at++)
          value += text[at] === "\\" ? text[++at] : text[at];
        at++;
        out.push(parse(value));
      } else {
        let end = at;
        while (end < text.length && text[end] !== "," && text[end] !== "}") end++;
        const value = text.slice(at, end);
        out.push(value === "NULL" ? null : parse(value));
        at = end;
      }
      if (text[at] === ",") at++;
    }
    at++;
    return out;
  };
  return read();
}
