/** What one device may see: snapshots and deltas built from the change log (pure functions). */
import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY, type Policy } from '../../protocol/policy.js';
import type { Change, ChangeSet, UserState } from '../../server/store/store.js';
import { deltaMessage, entitledGroups, snapshotMessage, toRecord } from '../../server/sync/view.js';

const user = (name: string, groups: string[], extra: Partial<UserState> = {}): UserState => ({
  name,
  groups,
  status: 'active',
  totp: { secret: 'JBSWY3DPEHPK3PXPJBSWY3DP', algorithm: 'SHA1', digits: 6, period: 30 },
  pending: false,
  graceStartedAt: 1,
  unlockedAt: null,
  deviceUnlocks: {},
  createdAt: 1,
  enrolledAt: 1,
  role: 'user',
  recoveryCodes: [],
  lastStep: null,
  accountFailures: 0,
  accountLockedAt: null,
  ...extra,
});
const eng: Policy = { ...DEFAULT_POLICY, userGroups: ['eng'] };
const set = (
  changes: Omit<Change, 'revision'>[],
  users: UserState[],
  policies: Record<string, Policy> = { lab: eng },
): ChangeSet => ({
  kind: 'changes',
  revision: 10 + changes.length,
  changes: changes.map((c, i) => ({ ...c, revision: 11 + i })),
  users: new Map(users.map((u) => [u.name, u])),
  policies: new Map(Object.entries(policies)),
});
const parse = (m: ReturnType<typeof deltaMessage>, device = 'dev-1') => {
  if (m === null || m === 'snapshot') return m;
  return JSON.parse(m.render(device)) as {
    upsert: { name: string; unlockedAt: number | null }[];
    remove: string[];
    policy?: Policy;
    fromRevision: number;
  };
};

describe('entitlement', () => {
  it('is every user for an empty userGroups, else users sharing a group', () => {
    expect(entitledGroups(DEFAULT_POLICY, [])).toBe(true);
    expect(entitledGroups(eng, ['ops', 'eng'])).toBe(true);
    expect(entitledGroups(eng, ['ops'])).toBe(false);
    expect(entitledGroups(eng, null)).toBe(false);
  });

  it('snapshots hold only entitled users', () => {
    const snap = JSON.parse(
      snapshotMessage(
        'lab',
        { revision: 5, policy: eng, users: [user('a', ['eng']), user('b', ['ops'])] },
        0,
      ).render('d'),
    ) as { users: { name: string }[] };
    expect(snap.users.map((u) => u.name)).toEqual(['a']);
  });
});

describe('deltas', () => {
  it('skips a change about a user the group never held', () => {
    expect(
      deltaMessage(
        'lab',
        10,
        set([{ kind: 'user', subject: 'b', before: null, after: ['ops'] }], [user('b', ['ops'])]),
        0,
      ),
    ).toBeNull();
  });

  it('upserts a user who joins, removes one who leaves or is deleted', () => {
    const d = parse(
      deltaMessage(
        'lab',
        10,
        set(
          [
            { kind: 'user', subject: 'a', before: ['ops'], after: ['eng'] },
            { kind: 'user', subject: 'b', before: ['eng'], after: ['ops'] },
            { kind: 'user', subject: 'c', before: ['eng'], after: null },
          ],
          [user('a', ['eng']), user('b', ['ops'])],
        ),
        0,
      ),
    );
    expect(d).toMatchObject({ fromRevision: 10, remove: ['b', 'c'] });
    expect(d !== null && d !== 'snapshot' && d.upsert.map((u) => u.name)).toEqual(['a']);
  });

  it('uses the current state when a user changed twice (in, then out)', () => {
    const d = parse(
      deltaMessage(
        'lab',
        10,
        set(
          [
            { kind: 'user', subject: 'a', before: ['ops'], after: ['eng'] },
            { kind: 'user', subject: 'a', before: ['eng'], after: ['ops'] },
          ],
          [user('a', ['ops'])],
        ),
        0,
      ),
    );
    expect(d).toMatchObject({ upsert: [], remove: ['a'] });
  });

  it('adds the policy when the group policy changed, and asks for a snapshot when its scope did', () => {
    expect(
      parse(
        deltaMessage(
          'lab',
          10,
          set([{ kind: 'policy', subject: 'lab', before: null, after: null }], []),
          0,
        ),
      ),
    ).toMatchObject({ policy: eng, upsert: [] });
    expect(
      deltaMessage(
        'lab',
        10,
        set([{ kind: 'policy', subject: 'other', before: null, after: null }], [], {
          lab: eng,
          other: eng,
        }),
        0,
      ),
    ).toBeNull();
    expect(
      deltaMessage(
        'lab',
        10,
        set([{ kind: 'scope', subject: 'lab', before: null, after: null }], []),
        0,
      ),
    ).toBe('snapshot');
    expect(deltaMessage('lab', 10, { kind: 'tooFar', revision: 99 }, 0)).toBe('snapshot');
  });

  it('gives each device the later of the global and its own unlock', () => {
    const u = user('a', ['eng'], { unlockedAt: 100, deviceUnlocks: { 'dev-2': 200 } });
    expect(toRecord(u, 'dev-1').unlockedAt).toBe(100);
    expect(toRecord(u, 'dev-2').unlockedAt).toBe(200);
    expect(toRecord(user('a', [], { deviceUnlocks: { d: 5 } }), 'd').unlockedAt).toBe(5);
    const m = deltaMessage(
      'lab',
      10,
      set([{ kind: 'user', subject: 'a', before: ['eng'], after: ['eng'] }], [u]),
      0,
    );
    expect(parse(m, 'dev-1')).toMatchObject({ upsert: [{ name: 'a', unlockedAt: 100 }] });
    expect(parse(m, 'dev-2')).toMatchObject({ upsert: [{ name: 'a', unlockedAt: 200 }] });
  });
});
