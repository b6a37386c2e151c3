/**
 * Reading a Linux-PAM service file (pam.conf(5) per-service syntax) well enough to place a line
 * and to check the result. Pure: text in, structure out.
 */

export const PAM_TYPES = ['auth', 'account', 'password', 'session'] as const;
export type PamType = (typeof PAM_TYPES)[number];

const SIMPLE_CONTROLS = ['required', 'requisite', 'sufficient', 'optional', 'include', 'substack'];

export type PamLine =
  | { kind: 'blank' | 'comment'; text: string }
  | { kind: 'include'; text: string; target: string } // Debian's `@include common-auth`
  | {
      kind: 'rule';
      text: string;
      type: PamType;
      /** `-auth` lines are skipped silently when the module is missing. */
      optionalModule: boolean;
      control: string;
      module: string;
      args: string[];
    }
  | { kind: 'invalid'; text: string; reason: string };

/** Splits a file into logical lines (a trailing backslash continues a line). */
function logicalLines(text: string): string[] {
  const physical = text.split('\n');
  if (physical[physical.length - 1] === '') physical.pop();
  const out: string[] = [];
  let pending: string | null = null;
  for (const line of physical) {
    const joined: string = pending === null ? line : `${pending}\n${line}`;
    if (/\\$/.test(line) && !/^\s*#/.test(joined)) pending = joined;
    else {
      out.push(joined);
      pending = null;
    }
  }
  if (pending !== null) out.push(pending);
  return out;
}

/** Splits into words, keeping a bracketed control (`[success=1 default=ignore]`) as one. */
function words(text: string): string[] | null {
  const src = text.replace(/\\\n/g, ' ').trim();
  const out: string[] = [];
  let i = 0;
  while (i < src.length) {
    if (/\s/.test(src[i] as string)) {
      i++;
      continue;
    }
    if (src[i] === '[') {
      const end = src.indexOf(']', i);
      if (end < 0) return null;
      out.push(src.slice(i, end + 1));
      i = end + 1;
      continue;
    }
    let j = i;
    while (j < src.length && !/\s/.test(src[j] as string)) j++;
    out.push(src.slice(i, j));
    i = j;
  }
  return out;
}

export function parseLine(text: string): PamLine {
  const trimmed = text.trim();
  if (trimmed === '') return { kind: 'blank', text };
  if (trimmed.startsWith('#')) return { kind: 'comment', text };
  const w = words(trimmed);
  if (!w) return { kind: 'invalid', text, reason: 'unclosed [ in the control field' };
  if (w[0] === '@include') {
    if (w.length !== 2) return { kind: 'invalid', text, reason: '@include takes one file name' };
    return { kind: 'include', text, target: w[1] as string };
  }
  const [rawType = '', control = '', module = '', ...args] = w;
  const optionalModule = rawType.startsWith('-');
  const type = rawType.replace(/^-/, '');
  if (!(PAM_TYPES as readonly string[]).includes(type))
    return { kind: 'invalid', text, reason: `unknown type ${JSON.stringify(rawType)}` };
  const bracket = /^\[(\s*[a-z_]+=([a-z]+|[0-9]+)\s*)+\]$/i.test(control);
  if (!bracket && !SIMPLE_CONTROLS.includes(control))
    return { kind: 'invalid', text, reason: `unknown control ${JSON.stringify(control)}` };
  if (!module) return { kind: 'invalid', text, reason: 'no module' };
  return {
    kind: 'rule',
    text,
    type: type as PamType,
    optionalModule,
    control,
    module,
    args,
  };
}

export function parseStack(text: string): PamLine[] {
  return logicalLines(text).map(parseLine);
}

/** Joins logical lines back, ending with a newline. */
export function renderStack(lines: readonly { text: string }[]): string {
  return lines.map((l) => l.text).join('\n') + '\n';
}

/**
 * True when this auth rule can end the whole stack with success before later lines run:
 * `sufficient`, or a bracket control with `success=done`. In a file pulled in with `include`
 * (or `@include`) that ends the including stack too; inside a `substack` it does not.
 */
export function canShortCircuit(line: PamLine): boolean {
  if (line.kind !== 'rule' || line.type !== 'auth') return false;
  if (line.control === 'sufficient') return true;
  return /\bsuccess=done\b/.test(line.control);
}
