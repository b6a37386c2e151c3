/** Human output of idvctl: aligned tables and key/value blocks (JSON goes out unchanged). */
import { EXIT, type Io, type Parsed } from '../../protocol/cli.js';

// C0 and C1 controls, DEL, and the bidi overrides/isolates that reorder what a terminal shows.
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Text safe to print on the admin's terminal. Events and device facts come from devices, and
 * partly from whoever attempts a login there (the user name typed at ssh): escape sequences in
 * them must not drive the terminal, and a newline must not forge a row. Shown as \xHH / \uHHHH.
 */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => {
    const n = c.charCodeAt(0);
    return n <= 0xff
      ? `\\x${n.toString(16).padStart(2, '0')}`
      : `\\u${n.toString(16).padStart(4, '0')}`;
  });
}

export function table(
  headers: string[],
  rows: (string | number | boolean | null | undefined)[][],
): string {
  const cells = rows.map((r) =>
    r.map((c) => (c === null || c === undefined ? '-' : printable(String(c)))),
  );
  const widths = headers.map((h, i) =>
    Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)),
  );
  const line = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(headers), ...cells.map(line)].join('\n');
}

export function block(obj: Record<string, unknown>): string {
  const width = Math.max(...Object.keys(obj).map((k) => k.length));
  return Object.entries(obj)
    .map(
      ([k, v]) =>
        `${printable(k).padEnd(width)}  ${printable(typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v ?? '-'))}`,
    )
    .join('\n');
}

/** Prints JSON with --json, else the human text. */
export function show(io: Io, values: Parsed['values'], data: unknown, human: () => string): number {
  io.out(values.json ? JSON.stringify(data) : human());
  return EXIT.OK;
}
