import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY, type Policy } from '../../protocol/policy.js';
import { generateCode, newTotpParams, timeStep } from '../../protocol/totp.js';
import { decideBegin, lockState, DAY_MS, type BeginInput } from '../../agent/policy/decide.js';
import { verifyAttempt, wantsRecoveryCheck } from '../../agent/policy/verify.js';
import { EMPTY_COUNTERS, type CachedUser } from '../../agent/store/cache.js';

const T0 = Date.UTC(2026, 10, 28, 12, 0, 0);
const totp = newTotpParams();
const alice: CachedUser = {
  name: 'alice',
  groups: ['staff'],
  status: 'active',
  totp,
  graceStartedAt: T0 - DAY_MS,
  recoveryCodes: [],
  unlockedAt: null,
  accountLockedAt: null,
  accountFailures: 0,
};
// The plain lockout by default here; self-unlock has its own tests (agent-badday.test.ts).
const policy = (p: Partial<Policy> = {}): Policy => ({
  ...DEFAULT_POLICY,
  selfUnlock: false,
  ...p,
});

function begin(over: Partial<BeginInput> = {}, p: Partial<Policy> = {}) {
  return decideBegin({
    now: T0,
    state: { revision: 3, deviceGroup: 'default', policy: policy(p), lastSyncAt: T0 - 1000 },
    connected: true,
    user: 'alice',
    service: 'sudo',
    record: alice,
    counters: { ...EMPTY_COUNTERS },
    ...over,
  });
}

describe('decideBegin', () => {
  it('prompts an enrolled user for policy.prompts codes', () => {
    expect(begin({}, { prompts: 2 }).reply).toEqual({ type: 'prompt', prompts: 2 });
  });
  it('skips a service the policy does not cover, and everything when mfa is off', () => {
    expect(begin({}, { services: ['sshd'] }).reply.type).toBe('skip');
    expect(begin({ service: 'sshd' }, { services: ['sshd'] }).reply.type).toBe('prompt');
    expect(begin({}, { mfa: 'off' }).reply.type).toBe('skip');
  });
  it('skips exempt users', () => {
    const d = begin({}, { exemptUsers: ['alice'] });
    expect(d.reply.type).toBe('skip');
    expect(d.reason).toBe('exempt');
  });
  it('unknown users: skip by default, deny when the policy says so', () => {
    expect(begin({ record: null, user: 'bob' }).reply.type).toBe('skip');
    expect(begin({ record: null, user: 'bob' }, { unknownUsers: 'deny' }).reply.type).toBe('deny');
  });
  it('denies suspended users', () => {
    expect(begin({ record: { ...alice, status: 'suspended' } }).reply).toMatchObject({
      type: 'deny',
      message: expect.stringContaining('suspended'),
    });
  });
  it('grace: skip with the deadline in the message, deny after it', () => {
    const started = Date.UTC(2026, 10, 26, 12);
    const u = { ...alice, totp: null, graceStartedAt: started };
    const during = begin({ record: u, now: started + 3 * DAY_MS });
    expect(during.reply).toEqual({
      type: 'skip',
      message: 'You must set up your authenticator app by 3 December',
    });
    const after = begin({ record: u, now: started + 8 * DAY_MS });
    expect(after.reply.type).toBe('deny');
    expect(after.reply).toMatchObject({ message: expect.stringContaining('3 December') });
  });
  it('cache older than offlineMaxAge: failMode secure denies, safe lets through as failopen', () => {
    const state = { revision: 3, deviceGroup: 'default', lastSyncAt: T0 - 61_000 };
    const stale = {
      connected: false,
      state: { ...state, policy: policy({ offlineMaxAgeSeconds: 60 }) },
    };
    expect(begin(stale).reply.type).toBe('deny');
    const safe = begin({
      ...stale,
      state: { ...state, policy: policy({ offlineMaxAgeSeconds: 60, failMode: 'safe' }) },
    });
    expect(safe.reply.type).toBe('skip');
    expect(safe.outcome).toBe('failopen');
    // Still fresh 59 s after the last sync.
    expect(begin({ ...stale, now: T0 - 2000 }).reply.type).toBe('prompt');
  });
  it('a clock set back before the last sync cannot make a stale cache look fresh', () => {
    const stale = {
      connected: false,
      state: {
        revision: 3,
        deviceGroup: 'default',
        lastSyncAt: T0,
        policy: policy({ offlineMaxAgeSeconds: 60 }),
      },
    };
    // A small correction (NTP) is fine; a jump back further than offlineMaxAge is not.
    expect(begin({ ...stale, now: T0 - 5_000 }).reply.type).toBe('prompt');
    expect(begin({ ...stale, now: T0 - 61_000 }).reply.type).toBe('deny');
  });
  it('never synced: deny (secure by default)', () => {
    const d = begin({ state: { revision: 0, deviceGroup: null, policy: null, lastSyncAt: null } });
    expect(d.reply.type).toBe('deny');
    expect(d.reason).toBe('never-synced');
  });
  it('a locked user is refused at begin with the lockout message', () => {
    const counters = {
      ...EMPTY_COUNTERS,
      failures: 5,
      lockedAt: T0 - 1000,
      lockedUntil: T0 + 60_000,
    };
    const d = begin({ counters });
    expect(d.outcome).toBe('locked');
    expect(d.reply).toMatchObject({
      type: 'deny',
      message: expect.stringMatching(/^Too many failed attempts: locked until \d\d:\d\d$/),
    });
  });
});

describe('lockState', () => {
  const locked = {
    ...EMPTY_COUNTERS,
    failures: 5,
    lastFailureAt: T0,
    lockedAt: T0,
    lockedUntil: T0 + 900_000,
  };
  it('ends at lockedUntil, and an unlimited lock (lockoutSeconds 0) does not end by time', () => {
    expect(lockState(locked, null, T0 + 899_999).locked).toBe(true);
    expect(lockState(locked, null, T0 + 900_000)).toMatchObject({
      locked: false,
      counters: { failures: 0 },
    });
    expect(lockState({ ...locked, lockedUntil: null }, null, T0 + 365 * DAY_MS).locked).toBe(true);
  });
  it('an admin unlock clears a lockout that started before it, not a later one', () => {
    expect(lockState(locked, T0 + 1, T0 + 2).locked).toBe(false);
    expect(lockState(locked, T0 - 1, T0 + 2).locked).toBe(true);
  });
});

describe('verifyAttempt', () => {
  const p = policy({ maxAttempts: 3, lockoutSeconds: 60 });
  const good = generateCode(totp, T0);
  const wrong = good === '000000' ? '111111' : '000000';

  it('accepts a valid code once, stores its step, resets failures', () => {
    const r = verifyAttempt({
      now: T0,
      policy: p,
      user: alice,
      counters: { ...EMPTY_COUNTERS, failures: 2 },
      code: good,
    });
    expect(r.reply.type).toBe('ok');
    expect(r.counters).toMatchObject({ failures: 0, lastStep: timeStep(T0) });
    const again = verifyAttempt({
      now: T0 + 1000,
      policy: p,
      user: alice,
      counters: r.counters,
      code: good,
    });
    expect(again.reply).toMatchObject({ type: 'invalid', attemptsLeft: 2 });
    expect(again.reason).toBe('replay');
  });
  it('counts wrong codes and locks at maxAttempts with the until time', () => {
    let c = { ...EMPTY_COUNTERS };
    const replies = [];
    for (let i = 0; i < 3; i++) {
      const r = verifyAttempt({ now: T0, policy: p, user: alice, counters: c, code: wrong });
      c = r.counters;
      replies.push(r.reply);
    }
    expect(replies[0]).toEqual({
      type: 'invalid',
      attemptsLeft: 2,
      message: 'Wrong code, 2 attempts left',
    });
    expect(replies[1]).toEqual({
      type: 'invalid',
      attemptsLeft: 1,
      message: 'Wrong code, 1 attempt left',
    });
    expect(replies[2]).toMatchObject({ type: 'locked', until: T0 + 60_000 });
    // While locked, even the right code is refused.
    expect(
      verifyAttempt({ now: T0 + 1000, policy: p, user: alice, counters: c, code: good }).reply.type,
    ).toBe('locked');
  });
  it('lockoutSeconds 0 locks until unlocked', () => {
    const r = verifyAttempt({
      now: T0,
      policy: policy({ maxAttempts: 1, lockoutSeconds: 0 }),
      user: alice,
      counters: { ...EMPTY_COUNTERS },
      code: wrong,
    });
    expect(r.reply).toMatchObject({
      type: 'locked',
      until: null,
      message: expect.stringContaining('administrator'),
    });
  });
  it('honours the window: one step back accepted with window 1, refused with window 0', () => {
    const old = generateCode(totp, T0 - 30_000);
    expect(
      verifyAttempt({
        now: T0,
        policy: policy({ window: 1 }),
        user: alice,
        counters: { ...EMPTY_COUNTERS },
        code: old,
      }).reply.type,
    ).toBe('ok');
    expect(
      verifyAttempt({
        now: T0,
        policy: policy({ window: 0 }),
        user: alice,
        counters: { ...EMPTY_COUNTERS },
        code: old,
      }).reply.type,
    ).toBe('invalid');
  });
  describe('recovery codes', () => {
    const code = 'abcd-efgh-ijkl';
    const withCodes = { ...alice, recoveryCodes: ['$scrypt$h1', '$scrypt$h2'] };
    const counters = { ...EMPTY_COUNTERS, failures: 2, lastFailureAt: T0 - 5000, lastStep: 77 };

    it('a match logs in, resets the failure count, keeps the replay guard, names the code', () => {
      const r = verifyAttempt({
        now: T0,
        policy: p,
        user: withCodes,
        counters,
        code,
        recovery: { codeId: 'A'.repeat(22), left: 1 },
      });
      expect(r.reply).toEqual({
        type: 'ok',
        message:
          'Recovery code accepted; 1 recovery code left. If your phone is lost, set up a new one in the portal',
      });
      expect(r.outcome).toBe('ok');
      expect(r.reason).toBe('recovery');
      expect(r.recoveryCodeId).toBe('A'.repeat(22));
      expect(r.counters).toEqual({ ...EMPTY_COUNTERS, lastStep: 77 });
    });
    it('the message says when it was the last one', () => {
      const r = verifyAttempt({
        now: T0,
        policy: p,
        user: withCodes,
        counters: { ...EMPTY_COUNTERS },
        code,
        recovery: { codeId: 'A'.repeat(22), left: 0 },
      });
      expect(r.reply).toMatchObject({ type: 'ok', message: expect.stringContaining('last one') });
      expect(r.reply.type === 'ok' && r.reply.message).not.toContain('\n');
    });
    it('no match is a failed attempt, worded like a wrong TOTP code, and locks at maxAttempts', () => {
      const r = verifyAttempt({
        now: T0,
        policy: p,
        user: withCodes,
        counters,
        code,
        recovery: null,
      });
      expect(r.reply).toEqual({ type: 'locked', until: T0 + 60_000, message: expect.any(String) });
      expect(r.reason).toBe('mismatch');
      expect(r.counters).toMatchObject({ failures: 3, lockedAt: T0, lastStep: 77 });
      const first = verifyAttempt({
        now: T0,
        policy: p,
        user: withCodes,
        counters: { ...EMPTY_COUNTERS },
        code,
      });
      expect(first.reply).toEqual({
        type: 'invalid',
        attemptsLeft: 2,
        message: 'Wrong code, 2 attempts left',
      });
      expect(first.reason).toBe('mismatch');
      expect(first.recoveryCodeId).toBeUndefined();
    });
    it('a locked-out user is refused even with a matching code', () => {
      const locked = {
        ...EMPTY_COUNTERS,
        failures: 3,
        lockedAt: T0 - 1000,
        lockedUntil: T0 + 60_000,
      };
      const r = verifyAttempt({
        now: T0,
        policy: p,
        user: withCodes,
        counters: locked,
        code,
        recovery: { codeId: 'A'.repeat(22), left: 1 },
      });
      expect(r.reply.type).toBe('locked');
      expect(r.recoveryCodeId).toBeUndefined();
    });
    it('an unenrolled user is refused even with a matching code', () => {
      const r = verifyAttempt({
        now: T0,
        policy: p,
        user: { ...withCodes, totp: null },
        counters: { ...EMPTY_COUNTERS },
        code,
        recovery: { codeId: 'A'.repeat(22), left: 1 },
      });
      expect(r.reply.type).toBe('invalid');
      expect(r.recoveryCodeId).toBeUndefined();
    });
    it('the engine checks hashes only for an enrolled, active user who is not locked out', () => {
      expect(wantsRecoveryCheck(withCodes, EMPTY_COUNTERS, code, T0)).toBe(true);
      expect(wantsRecoveryCheck(withCodes, EMPTY_COUNTERS, '123456', T0)).toBe(false);
      expect(wantsRecoveryCheck({ ...withCodes, totp: null }, EMPTY_COUNTERS, code, T0)).toBe(
        false,
      );
      expect(
        wantsRecoveryCheck({ ...withCodes, status: 'suspended' }, EMPTY_COUNTERS, code, T0),
      ).toBe(false);
      expect(
        wantsRecoveryCheck({ ...withCodes, recoveryCodes: [] }, EMPTY_COUNTERS, code, T0),
      ).toBe(false);
      const locked = { ...EMPTY_COUNTERS, failures: 3, lockedAt: T0 - 1000, lockedUntil: T0 + 1 };
      expect(wantsRecoveryCheck(withCodes, locked, code, T0)).toBe(false);
      // The lockout has passed: check again.
      expect(wantsRecoveryCheck(withCodes, locked, code, T0 + 2)).toBe(true);
    });
  });
});
