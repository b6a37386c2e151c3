// Property-based fuzzing of every parse function of the shared contract: whatever arrives, the
// parser returns a typed result, never throws, and every refusal carries a catalog code.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isErrorCode } from '../../protocol/errors.js';
import {
  LIMITS,
  parseAgentToServer,
  parseLocalReply,
  parseLocalRequest,
  parseServerToAgent,
  type ParseResult,
} from '../../protocol/messages.js';
import { DEFAULT_POLICY } from '../../protocol/policy.js';
import { PROTOCOL_VERSION } from '../../protocol/version.js';

const v = PROTOCOL_VERSION;
const uuid = '3b241101-e2bb-4255-8caf-4136c566a962';
const user = {
  name: 'alice',
  groups: ['staff'],
  status: 'active',
  totp: { secret: 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP', algorithm: 'SHA1', digits: 6, period: 30 },
  graceStartedAt: 1_700_000_000_000,
  recoveryCodes: [],
  unlockedAt: null,
};
const event = { id: uuid, at: 1_700_000_000_000, user: 'alice', service: 'sudo', outcome: 'ok' };
const status = {
  type: 'status',
  server: 'https://idv.example',
  deviceId: uuid,
  connected: true,
  revision: 12,
  users: 3,
  lastSyncAt: '2026-11-28T10:00:00.000Z',
  locked: ['alice'],
  outbox: 0,
};

type Parser = (raw: string | Buffer) => ParseResult<{ type: string }>;
const CHANNELS: { name: string; parse: Parser; limit: number; valid: Record<string, unknown>[] }[] =
  [
    {
      name: 'server → agent',
      parse: parseServerToAgent,
      limit: LIMITS.serverToAgent,
      valid: [
        { type: 'challenge', v, nonce: 'a'.repeat(43), serverTime: 1 },
        {
          type: 'snapshot',
          revision: 3,
          serverTime: 1,
          deviceGroup: 'default',
          policy: DEFAULT_POLICY,
          users: [user],
        },
        {
          type: 'delta',
          fromRevision: 3,
          revision: 4,
          serverTime: 1,
          upsert: [user],
          remove: ['bob'],
        },
        {
          type: 'delta',
          fromRevision: 3,
          revision: 4,
          serverTime: 1,
          policy: DEFAULT_POLICY,
          upsert: [],
          remove: [],
        },
        { type: 'eventsAck', ids: [uuid] },
      ],
    },
    {
      name: 'agent → server',
      parse: parseAgentToServer,
      limit: LIMITS.agentToServer,
      valid: [
        {
          type: 'hello',
          v,
          deviceId: uuid,
          signature: 'b'.repeat(86),
          revision: 0,
          agentVersion: '0.1.0',
          facts: { hostname: 'h', os: 'linux', osVersion: '12', arch: 'x64' },
        },
        { type: 'ack', revision: 7 },
        {
          type: 'events',
          events: [event, { ...event, rhost: '10.0.0.1', tty: 'ssh', reason: 'replay' }],
        },
      ],
    },
    {
      name: 'local request',
      parse: parseLocalRequest,
      limit: LIMITS.localRequest,
      valid: [
        { type: 'begin', v, user: 'alice', service: 'sudo' },
        { type: 'begin', v, user: 'alice', service: 'sshd', rhost: '::1', tty: 'ssh' },
        { type: 'verify', code: '123456' },
        { type: 'verify', code: '12345678' },
        { type: 'verify', code: 'abcd-efgh-2345' },
        { type: 'status', v },
        { type: 'unlock', v, user: 'alice' },
      ],
    },
    {
      name: 'local reply',
      parse: parseLocalReply,
      limit: LIMITS.localReply,
      valid: [
        { type: 'skip' },
        { type: 'skip', message: 'You must set up your authenticator app by 3 December' },
        { type: 'deny', message: 'no' },
        { type: 'prompt', prompts: 3 },
        { type: 'ok' },
        { type: 'invalid', attemptsLeft: 2, message: 'Wrong code, 2 attempts left' },
        { type: 'locked', until: null, message: 'locked' },
        status,
        { type: 'unlocked', user: 'alice', wasLocked: true },
        { type: 'error', code: 'INVALID_MESSAGE', message: 'bad' },
      ],
    },
  ];

/** A valid message with one near-miss mutation: the kind of input a buggy or hostile peer sends. */
function mutations(valid: Record<string, unknown>[]): fc.Arbitrary<unknown> {
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
  const value = fc.oneof(
    fc.anything(),
    fc.string(),
    fc.integer(),
    fc.double(),
    fc.constant(null),
    fc.constant(-1),
    fc.constant(2 ** 60),
    fc.constant('9'.repeat(500)),
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
    fc.tuple(base, key, value).map(([m, k, val]) => ({ ...m, [k]: val })),
    // a nested mutation: replace a nested element
    fc
      .tuple(base, value)
      .map(([m, val]) =>
        JSON.parse(JSON.stringify(m), (k, x) =>
          k === 'name' || k === 'id' || k === 'secret' ? val : x,
        ),
      ),
  );
}

function check(result: ParseResult<{ type: string }>): void {
  if (!result.ok) {
    expect(isErrorCode(result.error.code), result.error.code).toBe(true);
    expect(typeof result.error.message).toBe('string');
  } else {
    expect(typeof result.value.type).toBe('string');
  }
}

for (const channel of CHANNELS) {
  describe(`parse ${channel.name}`, () => {
    it('accepts every valid message unchanged', () => {
      for (const m of channel.valid) {
        const r = channel.parse(JSON.stringify(m));
        expect(r, JSON.stringify(m)).toEqual({ ok: true, value: m });
        expect(channel.parse(Buffer.from(JSON.stringify(m))).ok).toBe(true);
      }
    });

    it('refuses unknown types, extra keys, wrong types, bad JSON and oversize input with a catalog code', () => {
      const m = channel.valid[0] as Record<string, unknown>;
      const code = (raw: string) => {
        const r = channel.parse(raw);
        return r.ok ? 'accepted' : r.error.code;
      };
      expect(code(JSON.stringify({ ...m, type: 'nope' }))).toBe('UNKNOWN_TYPE');
      expect(code(JSON.stringify({ ...m, type: 42 }))).toBe('UNKNOWN_TYPE');
      expect(code(JSON.stringify({ ...m, surprise: 1 }))).toBe('INVALID_MESSAGE');
      expect(code('{"type":')).toBe('MALFORMED_JSON');
      expect(code('[]')).toBe('INVALID_MESSAGE');
      expect(code('null')).toBe('INVALID_MESSAGE');
      expect(code(' '.repeat(channel.limit + 1))).toBe('TOO_LARGE');
      for (const [k, val] of Object.entries(m)) {
        if (k === 'type') continue;
        const wrong = typeof val === 'string' ? 12 : 'twelve';
        expect(code(JSON.stringify({ ...m, [k]: wrong })), k).not.toBe('accepted');
      }
      if ('v' in m)
        expect(code(JSON.stringify({ ...m, v: PROTOCOL_VERSION + 1 }))).toBe('PROTOCOL_VERSION');
    });

    it('never throws and always answers with a catalog code (random JSON values)', () => {
      fc.assert(
        fc.property(fc.jsonValue(), (value) => check(channel.parse(JSON.stringify(value)))),
        { numRuns: 2000 },
      );
    });

    it('never throws on random text and bytes', () => {
      fc.assert(
        fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' })), (s) =>
          check(channel.parse(s)),
        ),
        { numRuns: 2000 },
      );
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 512 }), (b) => check(channel.parse(Buffer.from(b)))),
        { numRuns: 1000 },
      );
    });

    it('never throws on near-valid messages, and a mutated message is either valid or refused', () => {
      fc.assert(
        fc.property(mutations(channel.valid), (m) => {
          let raw: string;
          try {
            raw = JSON.stringify(m) ?? 'undefined';
          } catch {
            return; // not serialisable (BigInt): cannot come off the wire
          }
          const r = channel.parse(raw);
          check(r);
          // Whatever is accepted must serialise back to the same JSON: no key was dropped or coerced.
          if (r.ok) expect(JSON.parse(JSON.stringify(r.value))).toEqual(JSON.parse(raw));
        }),
        { numRuns: 3000 },
      );
    });

    it('survives absurd nesting', () => {
      const deep = '['.repeat(100_000) + ']'.repeat(100_000);
      check(channel.parse(deep.slice(0, channel.limit)));
      const deepObject = `{"type":"${String(channel.valid[0]?.type)}","x":${'{"a":'.repeat(2000)}1${'}'.repeat(2000)}}`;
      check(channel.parse(deepObject));
    });
  });
}
