/**
 * The sync protocol's compatibility table (protocol/compat.ts): every schema key is either
 * version 1 or listed in SINCE, and a message cut down for version 1 holds only what version 1's
 * strict schemas accept.
 */
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import {
  eventsForSession,
  forSession,
  fromSession,
  newerField,
  SINCE,
  V1,
} from '../../protocol/compat.js';
import {
  agentToServerSchema,
  loginEventSchema,
  OUTCOMES,
  parseServerToAgent,
  serverToAgentSchema,
  userRecordSchema,
  type Snapshot,
} from '../../protocol/messages.js';
import { DEFAULT_POLICY, policySchema } from '../../protocol/policy.js';
import {
  mismatchText,
  negotiate,
  parseRange,
  SYNC_PROTOCOL,
  syncProtocolFrom,
} from '../../protocol/version.js';

const keys = (schema: z.ZodObject) => Object.keys(schema.shape);
const unlisted = (all: string[], v1: readonly string[], since: Readonly<Record<string, unknown>>) =>
  all.filter((k) => !v1.includes(k) && !(k in since));

describe('every addition to the sync channel names its protocol version', () => {
  it('policy, user record and login event fields', () => {
    expect(unlisted(keys(policySchema), V1.policy, SINCE.policy)).toEqual([]);
    expect(unlisted(keys(userRecordSchema), V1.user, SINCE.user)).toEqual([]);
    expect(unlisted(keys(loginEventSchema), V1.event, SINCE.event)).toEqual([]);
  });

  it('login outcomes, each new one with a version-1 fallback', () => {
    expect(unlisted([...OUTCOMES], V1.outcomes, SINCE.outcomes)).toEqual([]);
    for (const o of Object.values(SINCE.outcomes)) expect(V1.outcomes).toContain(o.fallback);
  });

  it('message kinds and their fields, both directions', () => {
    for (const union of [serverToAgentSchema, agentToServerSchema]) {
      for (const option of union.options as unknown as z.ZodObject[]) {
        const type = String((option.shape.type as z.ZodLiteral).value);
        const v1 = (V1.messages as Record<string, readonly string[]>)[type];
        if (!v1) {
          expect(SINCE.messages, `message kind ${type}`).toHaveProperty(type);
          continue;
        }
        expect(unlisted(keys(option), v1, SINCE.fields[type] ?? {}), type).toEqual([]);
      }
    }
  });

  it('nothing is newer than what this build speaks', () => {
    const all = [
      SINCE.policy,
      SINCE.user,
      SINCE.event,
      SINCE.messages,
      ...Object.values(SINCE.fields),
    ].flatMap((t) => Object.values(t));
    for (const v of all) expect(v).toBeLessThanOrEqual(SYNC_PROTOCOL.max);
  });
});

describe('a snapshot for an agent on version 1', () => {
  const snapshot = {
    type: 'snapshot',
    revision: 3,
    serverTime: 1,
    deviceGroup: 'default',
    // A field added in version 2, as the server holds it.
    policy: { ...DEFAULT_POLICY, selfUnlock: true },
    users: [],
  } as unknown as Snapshot;

  it('loses what version 1 does not know, and keeps the rest', () => {
    const cut = forSession(snapshot, 1);
    expect(Object.keys(cut.policy).sort()).toEqual([...V1.policy].sort());
    expect(newerField(cut, 1)).toBeNull();
    // An agent on version 1 would refuse the uncut one: the agent-side check says where.
    expect(newerField(snapshot, 1)).toMatch(/^policy\.(accountMaxFailures|selfUnlock)$/);
    // Version 2 sessions get it whole.
    expect(forSession(snapshot, 2)).toBe(snapshot);
    expect(newerField(snapshot, 2)).toBeNull();
  });

  it('an agent on a version-1 session accepts a version-1 snapshot, and refuses a newer key', () => {
    const v1 = forSession(snapshot, 1);
    const data = JSON.parse(JSON.stringify(v1)) as Record<string, unknown>;
    const parsed = parseServerToAgent(JSON.stringify(v1), (d) => fromSession(d, 1));
    expect(parsed.ok).toBe(true);
    expect(fromSession(data, 1)).toBeNull();
    const whole = parseServerToAgent(JSON.stringify(snapshot), (d) => fromSession(d, 1));
    expect(whole.ok ? null : whole.error.code).toBe('PROTOCOL_VERSION');
  });

  it('events to a version-1 server keep their version-1 shape', () => {
    const e = {
      id: crypto.randomUUID(),
      at: 1,
      user: 'a',
      service: 'sudo',
      outcome: 'ok',
    } as const;
    expect(eventsForSession([e], 1)).toEqual([e]);
  });
});

describe('version ranges', () => {
  it('negotiates the highest common version, or none', () => {
    expect(negotiate({ min: 1, max: 2 }, { min: 1, max: 1 })).toBe(1);
    expect(negotiate({ min: 1, max: 3 }, { min: 2, max: 5 })).toBe(3);
    expect(negotiate({ min: 3, max: 3 }, { min: 1, max: 2 })).toBeNull();
    expect(parseRange('1-2')).toEqual({ min: 1, max: 2 });
    expect(parseRange('4')).toEqual({ min: 4, max: 4 });
    for (const bad of ['', '0', '2-1', '1-', 'a', '1-99999999', '-1'])
      expect(parseRange(bad)).toBeNull();
    expect(
      mismatchText(
        { name: 'idv-server', range: { min: 3, max: 3 } },
        { name: 'the agent', range: { min: 1, max: 2 } },
      ),
    ).toBe('idv-server speaks sync protocol 3, the agent 1-2: upgrade the agent');
  });

  it('the test seam takes MIN-MAX and refuses anything else', () => {
    expect(syncProtocolFrom({})).toBe(SYNC_PROTOCOL);
    expect(syncProtocolFrom({ IDV_TEST_SYNC_PROTOCOL: '2-3' })).toEqual({ min: 2, max: 3 });
    expect(() => syncProtocolFrom({ IDV_TEST_SYNC_PROTOCOL: 'x' })).toThrow(/MIN-MAX/);
  });
});
