/**
 * The fuzz inputs, shared by the property tests of the parsers (tests/unit/messages.fuzz.test.ts)
 * and by the entry-point fuzzer (tests/fuzz/run.ts): one set of generators, so a new kind of
 * hostile input reaches every place at once.
 */
import fc from 'fast-check';
import { PROTOCOL_VERSION } from '../../protocol/version.js';

const v = PROTOCOL_VERSION;

/** Valid helper → agent requests (the local socket), as the helper and the CLI send them. */
export const VALID_LOCAL_REQUESTS: Record<string, unknown>[] = [
  { type: 'begin', v, user: 'alice', service: 'sudo' },
  { type: 'begin', v, user: 'alice', service: 'sshd', rhost: '::1', tty: 'ssh' },
  { type: 'verify', code: '123456' },
  { type: 'verify', code: '12345678' },
  { type: 'verify', code: 'abcd-efgh-2345' },
  { type: 'verify', code: '123456789012' },
  { type: 'status', v },
  { type: 'unlock', v, user: 'alice' },
];

/** Valid agent → helper replies (the local socket's other direction). */
export const VALID_LOCAL_REPLIES: Record<string, unknown>[] = [
  { type: 'skip' },
  { type: 'skip', message: 'You must set up your authenticator app by 3 December' },
  { type: 'deny', message: 'no' },
  { type: 'prompt', prompts: 3 },
  { type: 'ok' },
  { type: 'invalid', attemptsLeft: 2, message: 'Wrong code, 2 attempts left' },
  { type: 'locked', until: null, message: 'locked' },
  { type: 'locked', until: 1_700_000_000_000, message: 'Too many failed attempts' },
  { type: 'error', code: 'INVALID_MESSAGE', message: 'bad' },
  { type: 'error', code: 'RATE_LIMITED', message: 'busy' },
];

/** Values a buggy or hostile peer puts where a field should be. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.anything(),
  fc.string(),
  fc.integer(),
  fc.double(),
  fc.constant(null),
  fc.constant(-1),
  fc.constant(2 ** 60),
  fc.constant('9'.repeat(500)),
);

/** A valid message with one near-miss mutation: the kind of input a buggy or hostile peer sends. */
export function mutations(valid: Record<string, unknown>[]): fc.Arbitrary<unknown> {
  const base = fc.constantFrom(...valid);
  const key = fc.constantFrom(
    'type',
    'v',
    'user',
    'revision',
    'code',
    'message',
    'events',
    'users',
    'policy',
    'extra',
    '__proto__',
    'constructor',
  );
  return fc.oneof(
    // drop a key
    fc.tuple(base, fc.nat()).map(([m, i]) => {
      const copy = { ...m };
      const keys = Object.keys(copy);
      delete copy[keys[i % keys.length] as string];
      return copy;
    }),
    // set a key (existing or new) to an arbitrary value
    fc.tuple(base, key, hostileValue).map(([m, k, val]) => ({ ...m, [k]: val })),
    // a nested mutation: replace a nested element
    fc
      .tuple(base, hostileValue)
      .map(([m, val]) =>
        JSON.parse(JSON.stringify(m), (k, x) =>
          k === 'name' || k === 'id' || k === 'secret' ? val : x,
        ),
      ),
  );
}

/** JSON.stringify that never throws (BigInt cannot come off the wire: it becomes a string). */
export function toJson(value: unknown): string {
  try {
    return (
      JSON.stringify(value, (_k, x: unknown) => (typeof x === 'bigint' ? String(x) : x)) ?? 'null'
    );
  } catch {
    return 'null';
  }
}

/** Text that arrives where a line of JSON is expected: near-valid, any JSON, any text, any bytes. */
export function lines(valid: Record<string, unknown>[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 4, arbitrary: mutations(valid).map(toJson) },
    { weight: 2, arbitrary: fc.constantFrom(...valid).map(toJson) },
    { weight: 1, arbitrary: fc.jsonValue().map(toJson) },
    { weight: 1, arbitrary: fc.string({ maxLength: 300 }) },
    {
      weight: 1,
      arbitrary: fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('latin1')),
    },
  );
}

/** HTTP request bodies: any text, any JSON, objects with the field names the API uses, bytes. */
export const httpBody: fc.Arbitrary<string> = fc.oneof(
  fc.string(),
  fc.jsonValue().map((x) => JSON.stringify(x)),
  fc
    .dictionary(
      fc.constantFrom(
        'name',
        'groups',
        'code',
        'device',
        'maxAttempts',
        'mfa',
        'token',
        'role',
        'publicKey',
        '__proto__',
        'constructor',
      ),
      fc.jsonValue(),
    )
    .map((x) => JSON.stringify(x)),
  fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b).toString('latin1')),
);

/** Portal form bodies: the fields the portal's forms have, with hostile values. */
export const formBody = (csrf: string): fc.Arbitrary<string> =>
  fc
    .record(
      {
        csrf: fc.oneof(fc.constant(csrf), fc.string({ maxLength: 60 })),
        user: fc.oneof(fc.constantFrom('alice', 'ALICE', 'alice ', 'root'), fc.string()),
        code: fc.oneof(
          fc.stringMatching(/^[0-9]{6}$/),
          fc.stringMatching(/^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$/),
          fc.stringMatching(/^[0-9]{3}-[0-9]{3}-[0-9]{3}-[0-9]{3}$/),
          fc.string(),
        ),
        extra: fc.string(),
      },
      { requiredKeys: [] },
    )
    .map((f) => new URLSearchParams(f as Record<string, string>).toString());

/** WebSocket frames an agent could send: any text, any JSON, protocol-shaped records. */
export const wsFrame: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.jsonValue().map((x) => JSON.stringify(x)),
  fc
    .record(
      {
        type: fc.constantFrom('hello', 'ack', 'events', 'snapshot', 'challenge', 'HELLO'),
        v: fc.oneof(fc.constant(PROTOCOL_VERSION), fc.integer(), fc.string()),
        deviceId: fc.oneof(fc.uuid(), fc.string()),
        signature: fc.string({ minLength: 86, maxLength: 86 }),
        revision: fc.oneof(fc.integer(), fc.double(), fc.string()),
        events: fc.array(fc.record({ id: fc.string(), at: fc.integer(), user: fc.string() })),
        extra: fc.jsonValue(),
      },
      { requiredKeys: ['type'] },
    )
    .map((x) => JSON.stringify(x)),
);

/** A hostile environment string: empty, long, control characters, look-alikes of valid values. */
export const envValue = (valid: string[]): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...valid) },
    { weight: 1, arbitrary: fc.constantFrom(...valid).map((x) => x.toUpperCase()) },
    { weight: 1, arbitrary: fc.constantFrom(...valid).map((x) => `${x}\n`) },
    { weight: 1, arbitrary: fc.constantFrom('', ' ', '-', '*', '..', '/dev/tty', 'x'.repeat(300)) },
    // no NUL: an environment string cannot hold one
    { weight: 2, arbitrary: fc.string({ maxLength: 80 }).map((x) => x.replace(/\0/g, '')) },
  );
