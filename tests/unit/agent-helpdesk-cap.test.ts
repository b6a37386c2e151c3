// Helpdesk codes while the account lock holds (agent/policy/helpdesk.ts), on plain data: the
// device's own budget does not restart when a device lockout runs out (offline, this is all a
// device has), and the account-wide cap as pushed closes every code, the genuine one too.
import { describe, expect, it } from 'vitest';
import { accountLocked } from '../../agent/policy/decide.js';
import { HELPDESK_MESSAGES, helpdeskBegin, verifyHelpdesk } from '../../agent/policy/helpdesk.js';
import { EMPTY_COUNTERS, type CachedUser, type Counters } from '../../agent/store/cache.js';
import { issueHelpdeskCode } from '../../protocol/helpdesk.js';
import { DEFAULT_POLICY, type Policy } from '../../protocol/policy.js';
import { newTotpParams } from '../../protocol/totp.js';

const T0 = Date.UTC(2026, 11, 7, 3, 0, 0);
const DEVICE = '6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f';
const key = { deviceId: DEVICE, secret: Buffer.alloc(32, 9) };
const policy: Policy = {
  ...DEFAULT_POLICY,
  maxAttempts: 4,
  lockoutSeconds: 900,
  accountMaxFailures: 3,
  selfUnlock: false,
};
const locked: CachedUser = {
  name: 'alice',
  groups: [],
  status: 'active',
  totp: newTotpParams(),
  graceStartedAt: T0,
  recoveryCodes: [],
  unlockedAt: null,
  accountLockedAt: T0 - 60_000,
  accountFailures: 3,
};
const GUESS = '000011112222';

function guess(user: CachedUser, counters: Counters, now: number, code = GUESS) {
  return verifyHelpdesk({ now, policy, user, counters, code, key, used: false });
}

describe('helpdesk codes under an account lock', () => {
  it('a device judges 2 × maxAttempts failures in all: a device lockout running out does not restart them', () => {
    // The pushed count stays low (the device is offline): only its own budget holds.
    const offline = { ...locked, accountFailures: 0 };
    let counters: Counters = { ...EMPTY_COUNTERS };
    let now = T0;
    const answers: string[] = [];
    for (let i = 0; i < 8; i++) {
      const r = guess(offline, counters, now);
      answers.push(r.reply.type);
      counters = r.counters;
      now += 20 * 60_000; // past any device lockout (900 s) between guesses
    }
    expect(answers).toEqual([...Array(7).fill('invalid'), 'locked']);
    expect(counters.failures).toBe(8);
    // Hours later, still nothing judged: not even a genuine code.
    const later = now + 6 * 3600_000;
    const { code } = issueHelpdeskCode(key.secret, DEVICE, 'alice', later, 900);
    const r = guess(offline, counters, later, code);
    expect(r.reply).toEqual({ type: 'locked', until: null, message: HELPDESK_MESSAGES.closed });
    expect(r.reason).toBe('account');
    expect(r.counters.failures).toBe(8);
    const offer = helpdeskBegin(accountLocked('deny'), {
      now: later,
      policy,
      user: offline,
      counters,
      hasKey: true,
    });
    expect(offer.reply).toEqual({ type: 'deny', message: HELPDESK_MESSAGES.closed });
    // An admin unlock (pushed: unlockedAt after the failures, the account lock gone) opens it.
    const unlocked = { ...offline, accountLockedAt: null, unlockedAt: later };
    expect(guess(unlocked, counters, later + 1000, code).reply.type).toBe('ok');
  });

  it('the pushed account count closes codes on a device that saw none of the failures', () => {
    const { code } = issueHelpdeskCode(key.secret, DEVICE, 'alice', T0, 900);
    const fresh = { ...EMPTY_COUNTERS };
    expect(guess({ ...locked, accountFailures: 4 }, fresh, T0).reply).toMatchObject({
      type: 'invalid',
      attemptsLeft: 1,
    });
    // The last one the cap allows is judged (and counted), and says it was the last.
    const last = guess({ ...locked, accountFailures: 5 }, fresh, T0);
    expect(last.reply).toEqual({ type: 'locked', until: null, message: HELPDESK_MESSAGES.closed });
    expect(last.reason).toBe('helpdesk-mismatch');
    const closed = guess({ ...locked, accountFailures: 6 }, fresh, T0, code);
    expect(closed.reply).toEqual({
      type: 'locked',
      until: null,
      message: HELPDESK_MESSAGES.closed,
    });
    expect(closed.reason).toBe('account');
    expect(guess({ ...locked, accountFailures: 5 }, fresh, T0, code).reply.type).toBe('ok');
  });
});
