// Property-based fuzzing of every parse function of the shared contract: whatever arrives, the
// parser returns a typed result, never throws, and every refusal carries a catalog code. The
// generators are the entry-point fuzzer's (tests/fuzz/generators.ts, `npm run fuzz`).
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
import { VALID_LOCAL_REPLIES, VALID_LOCAL_REQUESTS, mutations } from '../fuzz/generators.js';

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
  revoked: false,
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
      valid: VALID_LOCAL_REQUESTS,
    },
    {
      name: 'local reply',
      parse: parseLocalReply,
      limit: LIMITS.localReply,
      valid: [
        ...VALID_LOCAL_REPLIES,
        status,
        { type: 'unlocked', user: 'alice', wasLocked: true, failures: 3 },
      ],
    },
  ];

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
