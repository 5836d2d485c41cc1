// What check and rescue print comes partly from the database (a locked_by, a
// host name, a process name), which anyone who may write a job row chooses.
// A newline there would forge a line of the output, an escape sequence would
// drive the terminal: every control character is printed as an escape instead.

// C0 and C1 controls, DEL, Unicode's line and paragraph separators and its bidirectional
// overrides, which reorder what a terminal shows.
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** The text with each control character written as \xNN or \uNNNN, and a backslash as \\. */
export function printable(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(CONTROL, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16)}`;
  });
}

/** Writes each line to stdout, escaped: the one way check and rescue print. */
export function printLine(line: string): void {
  process.stdout.write(`${printable(line)}\n`);
}
