/**
 * What the stand-in agent answers pam_idv.so in the fuzz runs: seeded random replies (valid,
 * mutated, hostile), each with the verdict the reference expects. The reference is the helper's
 * own reply check (pam-helper/reply.ts) and login flow (pam-helper/login.ts, fail mode secure):
 * the module may refuse more (documented in pam-module/README.md), never allow more.
 */
import { ERROR_CODES } from '../../../protocol/errors.js';
import { parseHelperReply, type HelperReply } from '../../../pam-helper/reply.js';
import type { FakeConnection } from './fake-agent.js';

/** What the module types at every prompt (the client answers this). */
export const CODE = '123456';

/** A reply: bytes written at once, or a behaviour over time (slow cases). */
export type Reply = Buffer | { slow: string; run(conn: FakeConnection): Promise<void> };

export interface FuzzCase {
  /** One reply per request of the module (begin, then each verify); then the agent hangs up. */
  replies: Reply[];
  /** Short description for a report (never the bytes: they may be megabytes). */
  what: string;
  /** The reference's verdict: true when the helper would let this login through. */
  allow: boolean;
  /** A control: a reply any correct module must accept. */
  control?: boolean;
}

/** mulberry32: small, seeded, good enough to pick cases. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rand = () => number;
const int = (r: Rand, n: number): number => Math.floor(r() * n);
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[int(r, xs.length)] as T;

const PIECES = [
  'a',
  'Z',
  ' ',
  '"',
  '\\',
  '/',
  'é',
  '€',
  '😀',
  '\u0000',
  '\u0007',
  '\u001b[2J',
  '\u0085',
  '\u2028',
  '\ud800',
  '\udfff',
  '\n',
  '\t',
];
function message(r: Rand): string {
  const shape = int(r, 6);
  if (shape === 0) return '';
  if (shape === 1) return 'x'.repeat(pick(r, [511, 512, 513]));
  if (shape === 2) return '😀'.repeat(pick(r, [511, 512, 513]));
  let s = '';
  const n = int(r, 40);
  for (let i = 0; i < n; i++) s += pick(r, PIECES);
  return s;
}

function validObject(r: Rand, phase: 'begin' | 'verify'): Record<string, unknown> {
  const types =
    phase === 'begin'
      ? ['skip', 'skip', 'deny', 'locked', 'prompt', 'prompt', 'prompt', 'error', 'ok', 'invalid']
      : ['ok', 'ok', 'invalid', 'invalid', 'locked', 'deny', 'error', 'skip', 'prompt'];
  const type = pick(r, types);
  const msg = (): Record<string, unknown> => ({ message: message(r) });
  const opt = (): Record<string, unknown> => (r() < 0.5 ? msg() : {});
  switch (type) {
    case 'skip':
    case 'ok':
      return { type, ...opt() };
    case 'deny':
      return { type, ...msg() };
    case 'prompt':
      return { type, prompts: 1 + int(r, 10), ...opt() };
    case 'invalid':
      return { type, attemptsLeft: int(r, 101), ...msg() };
    case 'locked':
      return { type, until: r() < 0.5 ? null : int(r, 8.64e15), ...msg() };
    default:
      return { type: 'error', code: pick(r, ERROR_CODES), ...msg() };
  }
}

/** JSON text for an object, in one of the forms a JSON reader must take (or must refuse). */
function serialize(r: Rand, obj: Record<string, unknown>): string {
  const style = int(r, 4);
  if (style === 0) {
    // Every character of every string as \u escapes, keys too, with whitespace around tokens.
    const esc = (s: string): string =>
      `"${[...s].map((ch) => [...ch].map((_, i) => `\\u${ch.charCodeAt(i).toString(16).padStart(4, '0')}`).join('')).join('')}"`;
    const parts = Object.entries(obj).map(
      ([k, v]) => ` ${esc(k)} :\t${typeof v === 'string' ? esc(v) : JSON.stringify(v)} `,
    );
    return `\r { ${parts.join(',')} }\r`;
  }
  if (style === 1) {
    const entries = Object.entries(obj).reverse();
    return JSON.stringify(Object.fromEntries(entries));
  }
  return JSON.stringify(obj);
}

const ODD_VALUES = [
  '1.0',
  '1e0',
  '-0',
  '-1',
  '"3"',
  'true',
  'false',
  'null',
  '[]',
  '{}',
  '99999999999999999999',
  '0x1',
  '01',
  '1.',
  '.5',
  'NaN',
  '""',
  '"\\x"',
  '"\\u12"',
];
const KEYS = [
  'type',
  'message',
  'prompts',
  'attemptsLeft',
  'until',
  'code',
  'extra',
  'Type',
  'type\u0000',
  '__proto__',
  'constructor',
  '',
];

function mutate(r: Rand, line: string): string | Buffer {
  switch (int(r, 14)) {
    case 0:
      return line.slice(0, int(r, line.length));
    case 1: {
      const b = Buffer.from(line);
      if (b.length) b[int(r, b.length)] = int(r, 256);
      return b;
    }
    case 2: {
      const b = Buffer.from(line);
      const at = int(r, b.length + 1);
      const ins = Buffer.from([
        pick(r, [0, 0x22, 0x5c, 0x7b, 0x7d, 0x2c, 0x3a, 0xff, 0xc0, 0xed, 0x0a, 0x20, int(r, 256)]),
      ]);
      return Buffer.concat([b.subarray(0, at), ins, b.subarray(at)]);
    }
    case 3:
      return line.replace(/^\s*\{/, `{"type":"${pick(r, ['ok', 'skip', 'nope'])}",`);
    case 4:
      return line.replace(/\}\s*$/, `,${JSON.stringify(pick(r, KEYS))}:${pick(r, ODD_VALUES)}}`);
    case 5:
      return line.replace(/:(\d+|null|"[^"]*")/, `:${pick(r, ODD_VALUES)}`);
    case 6:
      return `{"type":"skip","message":"${'y'.repeat(8200)}"}`;
    case 7:
      return `${' '.repeat(8192 - line.length + int(r, 3))}${line}`;
    case 8:
      return '['.repeat(int(r, 20000));
    case 9:
      return pick(r, [
        '',
        ' ',
        '{}',
        '[]',
        'null',
        '"skip"',
        '{"type":null}',
        '{"type":"skip"',
        '{"type":"skip"}}',
        '{"type":"skip",}',
        "{'type':'skip'}",
        '\u0000{"type":"skip"}',
      ]);
    case 10:
      return `${line}\n${line}`;
    case 11:
      return line.replace(/"type"/, '"ty\\u0070e"');
    case 12:
      return Buffer.concat([Buffer.from(line.slice(0, -1)), Buffer.from([0x00]), Buffer.from('}')]);
    default:
      return line.replace(
        /"([a-zA-Z]+)":/,
        (_m, k: string) => `"${k}":${pick(r, ODD_VALUES)},"${k}":`,
      );
  }
}

/** One reply line: usually mutated, sometimes intact; usually newline-terminated. */
function replyBytes(r: Rand, phase: 'begin' | 'verify'): Buffer {
  const obj = validObject(r, phase);
  let body: string | Buffer = serialize(r, obj);
  if (r() < 0.6) body = mutate(r, body);
  const end = r() < 0.9 ? '\n' : pick(r, ['', '\r\n', '\n\n', '\nx']);
  return Buffer.concat([Buffer.from(body), Buffer.from(end)]);
}

/** The helper's view of one reply: the first line as Node decodes it, parsed as reply.ts does. */
export function reference(reply: Reply): HelperReply | null {
  if (!Buffer.isBuffer(reply)) return null;
  const nl = reply.indexOf(0x0a);
  if (nl < 0) return null;
  const parsed = parseHelperReply(reply.subarray(0, nl).toString('utf8'));
  return parsed.ok ? parsed.value : null;
}

/** login.ts with fail mode secure, a valid code typed at every prompt. */
export function referenceAllows(replies: Reply[]): boolean {
  const first = replies[0] ? reference(replies[0]) : null;
  if (!first) return false;
  if (first.type === 'skip') return true;
  if (first.type !== 'prompt') return false;
  for (let i = 0; i < first.prompts; i++) {
    const reply = replies[i + 1];
    const r = reply ? reference(reply) : null;
    if (!r) return false;
    if (r.type === 'ok') return true;
    if (r.type !== 'invalid' || i === first.prompts - 1 || r.attemptsLeft === 0) return false;
  }
  return false;
}

const line = (obj: object): Buffer => Buffer.from(`${JSON.stringify(obj)}\n`);

/** Replies any correct module must accept: they prove the runs exercise success paths. */
export function controls(): FuzzCase[] {
  const c = (what: string, replies: Buffer[]): FuzzCase => ({
    what,
    replies,
    allow: true,
    control: true,
  });
  return [
    c('skip', [line({ type: 'skip' })]),
    c('skip with message', [line({ type: 'skip', message: 'not managed here \u0007😀' })]),
    c('prompt, ok', [line({ type: 'prompt', prompts: 1 }), line({ type: 'ok' })]),
    c('prompt, invalid, ok', [
      line({ type: 'prompt', prompts: 2, message: 'hello' }),
      line({ type: 'invalid', attemptsLeft: 3, message: 'Wrong code, 3 attempts left' }),
      line({ type: 'ok', message: 'Welcome' }),
    ]),
    c('escaped keys and whitespace', [
      Buffer.from(' {"ty\\u0070e" : "skip" , "message":"\\ud83d\\ude00"}\r\n'),
    ]),
  ];
}

/** `count` random cases from `seed`, after the controls. */
export function randomCases(count: number, seed: number): FuzzCase[] {
  const r = rng(seed);
  const out: FuzzCase[] = controls();
  while (out.length < count) {
    const first = replyBytes(r, 'begin');
    const replies: Reply[] = [first];
    const ref = reference(first);
    const more = ref?.type === 'prompt' ? ref.prompts : r() < 0.2 ? 1 + int(r, 3) : 0;
    for (let i = 0; i < more; i++) replies.push(replyBytes(r, 'verify'));
    out.push({
      replies,
      what: `random #${out.length} (seed ${seed})`,
      allow: referenceAllows(replies),
    });
  }
  return out.slice(0, count);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Replies that take time: run with a short timeout= so that each costs about a second. */
export function slowCases(): FuzzCase[] {
  const silent: Reply = { slow: 'silent', run: async (conn) => void (await conn.closed) };
  const drip: Reply = {
    slow: 'drip',
    run: async (conn) => {
      for (const ch of '{"type":"skip"}\n') {
        conn.write(ch);
        await sleep(150);
      }
    },
  };
  const endless: Reply = {
    slow: 'endless line',
    run: async (conn) => {
      const t = setInterval(() => conn.write('a'.repeat(64)), 20);
      await conn.closed;
      clearInterval(t);
    },
  };
  const slowEndless: Reply = {
    slow: 'slow endless line',
    run: async (conn) => {
      const t = setInterval(() => conn.write('{'), 100);
      await conn.closed;
      clearInterval(t);
    },
  };
  const prompt = line({ type: 'prompt', prompts: 3 });
  return [
    { what: 'never answers begin', replies: [silent], allow: false },
    { what: 'drips a skip past the timeout', replies: [drip], allow: false },
    { what: 'a line that never ends', replies: [endless], allow: false },
    { what: 'a line that never ends, slowly', replies: [slowEndless], allow: false },
    { what: 'never answers verify', replies: [prompt, silent], allow: false },
    { what: 'drips an ok past the timeout', replies: [prompt, drip], allow: false },
  ];
}
