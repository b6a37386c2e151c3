import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../protocol/errors.js';
import { LIMITS, parseLocalReply } from '../../protocol/messages.js';
import { HELPER_REPLY_TYPES, MAX_REPLY_BYTES, parseHelperReply } from '../../pam-helper/reply.js';

/** The shared contract: what the zod schema accepts, restricted to the replies the helper reads. */
function contract(line: string): { ok: boolean; value?: unknown } {
  const r = parseLocalReply(line);
  if (!r.ok) return { ok: false };
  if (!(HELPER_REPLY_TYPES as readonly string[]).includes(r.value.type)) return { ok: false };
  return { ok: true, value: r.value };
}

function agree(line: string): { ok: boolean } {
  const lean = parseHelperReply(line);
  const zod = contract(line);
  expect({ line, ok: lean.ok }).toEqual({ line, ok: zod.ok });
  if (lean.ok) expect(lean.value).toEqual(zod.value);
  return zod;
}

// Values on and around every boundary the schema draws.
const message = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.integer({ min: 508, max: 516 }).map((n) => 'm'.repeat(n)),
  fc.integer({ min: 254, max: 258 }).map((n) => '€'.repeat(n)), // 3 bytes each, 1 UTF-16 unit
  fc.integer({ min: 510, max: 514 }).map((n) => '😀'.repeat(n)), // 2 UTF-16 units, 1 code point
  fc.integer({ min: 510, max: 514 }).map((n) => `${'😀'.repeat(n - 1)}\ud800`), // lone surrogate
  fc.integer({ min: 1020, max: 1030 }).map((n) => '\udc00\ud800'.repeat(n / 2)),
);
const number = fc.oneof(
  fc.integer({ min: -3, max: 103 }),
  fc.constantFrom(
    0.5,
    -0,
    1.5,
    1e21,
    8.64e15,
    8.64e15 + 1,
    8.64e15 - 1,
    Number.MAX_SAFE_INTEGER + 2,
  ),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);
const anyValue = fc.oneof(message, number, fc.constantFrom(null, true, false, [], {}, '1', '5'));
const fieldValue: Record<string, fc.Arbitrary<unknown>> = {
  message: fc.oneof({ weight: 4, arbitrary: message }, { weight: 1, arbitrary: anyValue }),
  prompts: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: -1, max: 12 }) }, anyValue),
  attemptsLeft: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: -1, max: 102 }) }, anyValue),
  until: fc.oneof(
    { weight: 2, arbitrary: fc.constant(null) },
    { weight: 4, arbitrary: fc.integer({ min: 0, max: 8.64e15 }) },
    { weight: 1, arbitrary: anyValue },
  ),
  code: fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...ERROR_CODES) },
    fc.constantFrom('toString', '__proto__', 'constructor', 'hasOwnProperty', 'internal', ''),
    anyValue,
  ),
  user: fc.constantFrom('alice', '-x'),
  wasLocked: fc.boolean(),
  v: fc.constantFrom(1, 2, '1'),
  extra: anyValue,
  __proto__: anyValue,
  type: fc.constantFrom('ok', 'skip', 'nope', 1),
};
const keys = Object.keys(fieldValue);
const typeArb = fc.oneof(
  { weight: 10, arbitrary: fc.constantFrom(...HELPER_REPLY_TYPES) },
  { weight: 1, arbitrary: fc.constantFrom('status', 'unlocked', 'begin', 'OK', '', 'constructor') },
  { weight: 1, arbitrary: anyValue },
);

/** A reply as JSON text, built by hand so that keys like __proto__ survive as own keys. */
const nearValid = fc
  .record({
    type: typeArb,
    fields: fc
      .uniqueArray(fc.constantFrom(...keys), { maxLength: 5 })
      .chain((ks) =>
        fc.tuple(
          ...ks.map((k) => fc.tuple(fc.constant(k), fieldValue[k] as fc.Arbitrary<unknown>)),
        ),
      ),
    typeLast: fc.boolean(),
  })
  .map(({ type, fields, typeLast }) => {
    const entries: [string, unknown][] = [['type', type], ...fields];
    if (typeLast) entries.push(entries.shift() as [string, unknown]);
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`;
  });

/** Replies the agent really sends: each type with its required fields and maybe the optional. */
const valid = fc.oneof(
  fc.record({ type: fc.constant('skip'), message }, { requiredKeys: ['type'] }),
  fc.record({ type: fc.constant('deny'), message }),
  fc.record(
    { type: fc.constant('prompt'), prompts: fc.integer({ min: 1, max: 10 }), message },
    { requiredKeys: ['type', 'prompts'] },
  ),
  fc.record({ type: fc.constant('ok'), message }, { requiredKeys: ['type'] }),
  fc.record({
    type: fc.constant('invalid'),
    attemptsLeft: fc.integer({ min: 0, max: 100 }),
    message,
  }),
  fc.record({
    type: fc.constant('locked'),
    until: fc.option(fc.integer({ min: 0, max: 8.64e15 })),
    message,
  }),
  fc.record({ type: fc.constant('error'), code: fc.constantFrom(...ERROR_CODES), message }),
);

describe('lean reply validator = protocol localReplySchema', () => {
  it('agrees on thousands of near-valid replies', () => {
    let accepted = 0;
    let refused = 0;
    fc.assert(
      fc.property(nearValid, (line) => {
        if (agree(line).ok) accepted++;
        else refused++;
      }),
      { numRuns: 6000 },
    );
    // Both sides of the boundary must really have been explored (about 5 % of the near-valid
    // lines are valid; the bound leaves room for the random draw).
    expect(accepted).toBeGreaterThan(100);
    expect(refused).toBeGreaterThan(100);
  });

  it('accepts every valid reply the helper consumes', () => {
    fc.assert(
      fc.property(valid, (reply) => {
        expect(agree(JSON.stringify(reply)).ok).toBe(
          // Messages over 512 code points are refused by both.
          !('message' in reply) || [...(reply.message as string)].length <= 512,
        );
      }),
      { numRuns: 3000 },
    );
  });

  it('agrees on arbitrary JSON and arbitrary text', () => {
    fc.assert(
      fc.property(fc.json(), (line) => void agree(line)),
      { numRuns: 1500 },
    );
    fc.assert(
      fc.property(fc.string(), (line) => void agree(line)),
      { numRuns: 500 },
    );
  });

  it('refuses oversized lines like the protocol does', () => {
    expect(MAX_REPLY_BYTES).toBe(LIMITS.localReply);
    const big = JSON.stringify({ type: 'skip', message: 'x', pad: ' '.repeat(9000) });
    expect(parseHelperReply(big).ok).toBe(false);
    const spaced = `{"type":"ok"${' '.repeat(8200)}}`;
    agree(spaced);
  });

  it('refuses the replies the helper never consumes, even when valid', () => {
    expect(parseHelperReply('{"type":"unlocked","user":"alice","wasLocked":true}').ok).toBe(false);
    expect(
      parseLocalReply('{"type":"unlocked","user":"alice","wasLocked":true,"failures":0}').ok,
    ).toBe(true);
  });
});
