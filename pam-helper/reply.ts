/**
 * A lean validator for the agent's replies that the helper consumes. It accepts exactly what
 * protocol/messages.ts `localReplySchema` (via parseLocalReply) accepts for these types — a
 * property test over thousands of generated replies holds the two together — without loading
 * zod, which would cost every login several milliseconds.
 */
import { isErrorCode } from '../protocol/errors.js';

/** Same as LIMITS.localReply in protocol/messages.ts (a unit test keeps them equal). */
export const MAX_REPLY_BYTES = 8192;
const MAX_MESSAGE = 512;
const MAX_EPOCH_MS = 8.64e15;

export type HelperReply =
  | { type: 'skip'; message?: string }
  | { type: 'deny'; message: string }
  | { type: 'prompt'; prompts: number; message?: string }
  | { type: 'ok'; message?: string }
  | { type: 'invalid'; attemptsLeft: number; message: string }
  | { type: 'locked'; until: number | null; message: string }
  | { type: 'error'; code: string; message: string };

export type HelperReplyType = HelperReply['type'];

export const HELPER_REPLY_TYPES: readonly HelperReplyType[] = [
  'skip',
  'deny',
  'prompt',
  'ok',
  'invalid',
  'locked',
  'error',
];

type Field = (v: unknown) => boolean;
/** Length in code points (a surrogate pair counts once), as the protocol's zod schema counts. */
function codePoints(s: string): number {
  let count = s.length;
  for (let i = 0; i < s.length - 1; i++) {
    if ((s.charCodeAt(i) & 0xfc00) === 0xd800 && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      count--;
      i++;
    }
  }
  return count;
}
const message: Field = (v) =>
  typeof v === 'string' && (v.length <= MAX_MESSAGE || codePoints(v) <= MAX_MESSAGE);
const int =
  (min: number, max: number): Field =>
  (v) =>
    typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
const epochMsOrNull: Field = (v) => v === null || int(0, MAX_EPOCH_MS)(v);
const errorCode: Field = (v) => isErrorCode(v);

/** Per type: required fields, optional fields. `type` itself is checked before. */
const SHAPES: Record<
  HelperReplyType,
  { required: Record<string, Field>; optional: Record<string, Field> }
> = {
  skip: { required: {}, optional: { message } },
  deny: { required: { message }, optional: {} },
  prompt: { required: { prompts: int(1, 10) }, optional: { message } },
  ok: { required: {}, optional: { message } },
  invalid: { required: { attemptsLeft: int(0, 100), message }, optional: {} },
  locked: { required: { until: epochMsOrNull, message }, optional: {} },
  error: { required: { code: errorCode, message }, optional: {} },
};

export type ReplyResult = { ok: true; value: HelperReply } | { ok: false; reason: string };

/** Parses one line from the agent. Never throws; the reason never echoes the input. */
export function parseHelperReply(line: string): ReplyResult {
  if (Buffer.byteLength(line, 'utf8') > MAX_REPLY_BYTES)
    return { ok: false, reason: 'reply too large' };
  let data: unknown;
  try {
    data = JSON.parse(line);
  } catch {
    return { ok: false, reason: 'reply is not JSON' };
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data))
    return { ok: false, reason: 'reply is not an object' };
  const obj = data as Record<string, unknown>;
  const type = obj.type;
  if (typeof type !== 'string' || !Object.hasOwn(SHAPES, type))
    return { ok: false, reason: 'unexpected reply type' };
  const shape = SHAPES[type as HelperReplyType];
  for (const key of Object.keys(obj)) {
    if (key === 'type') continue;
    const check = Object.hasOwn(shape.required, key)
      ? shape.required[key]
      : Object.hasOwn(shape.optional, key)
        ? shape.optional[key]
        : undefined;
    if (!check) return { ok: false, reason: `unexpected field in ${type} reply` };
    if (!check(obj[key])) return { ok: false, reason: `invalid field in ${type} reply` };
  }
  for (const key of Object.keys(shape.required))
    if (!Object.hasOwn(obj, key)) return { ok: false, reason: `missing field in ${type} reply` };
  return { ok: true, value: obj as HelperReply };
}
