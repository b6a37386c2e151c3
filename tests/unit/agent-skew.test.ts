/**
 * Learning the clock's error from two consecutive codes (agent/policy/skew.ts), through
 * verifyAttempt with an injected time: the wide search only when asked (no server time), one
 * match never logs in, the next step's code at the same offset does, anything else is as before.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY } from '../../protocol/policy.js';
import { generateCode, newTotpParams, timeStep } from '../../protocol/totp.js';
import { verifyAttempt, type VerifyInput } from '../../agent/policy/verify.js';
import { EMPTY_COUNTERS, type CachedUser, type Counters } from '../../agent/store/cache.js';

const totp = newTotpParams();
const user: CachedUser = {
  name: 'alice',
  groups: [],
  status: 'active',
  totp,
  graceStartedAt: 0,
  recoveryCodes: [],
  unlockedAt: null,
  accountLockedAt: null,
  accountFailures: 0,
};
const policy = { ...DEFAULT_POLICY, maxAttempts: 3 };
/** The real time (the phone's); the agent's local clock is 3 minutes behind it. */
const REAL = Date.UTC(2026, 11, 2, 3, 0, 5);
const LOCAL = REAL - 180_000;
const phone = (k = 0) => generateCode(totp, REAL + k * 30_000);

function attempt(code: string, counters: Counters, now = LOCAL, wide = true) {
  const input: VerifyInput = { now, policy, user, counters, code, wide };
  return verifyAttempt(input);
}

describe('clock skew: two consecutive codes', () => {
  it('with the server time current (wide off): a code 3 minutes off is a wrong code', () => {
    const r = attempt(phone(), { ...EMPTY_COUNTERS }, LOCAL, false);
    expect(r).toMatchObject({ outcome: 'invalid', reason: 'mismatch' });
    expect(r.counters.failures).toBe(1);
  });

  it('the first code off the window is not enough, and is not a failure; the next one logs in', () => {
    const first = attempt(phone(-1), { ...EMPTY_COUNTERS });
    expect(first).toMatchObject({
      outcome: 'prompt',
      reason: 'clock-skew-first-code',
      reply: { type: 'invalid', message: expect.stringMatching(/type the next code/) },
    });
    expect(first.counters).toMatchObject({ failures: 0, lastStep: null });
    expect(first.counters.skewStep).toBe(timeStep(REAL) - 1);

    const second = attempt(phone(0), first.counters, LOCAL + 20_000);
    expect(second).toMatchObject({ outcome: 'ok', reason: 'clock-skew', step: timeStep(REAL) });
    expect(second.counters).toMatchObject({ lastStep: timeStep(REAL), skewStep: null });
    // The correction puts the agent's time in the middle of the phone's step: within 15 s.
    const corrected = LOCAL + 20_000 + second.clockCorrectionMs!;
    expect(Math.abs(corrected - (REAL + 20_000))).toBeLessThanOrEqual(30_000);
    expect(timeStep(corrected)).toBe(timeStep(REAL + 20_000));
  });

  it('the same code twice, or a non-consecutive one, only starts over (never logs in)', () => {
    const first = attempt(phone(), { ...EMPTY_COUNTERS });
    const again = attempt(phone(), first.counters);
    expect(again).toMatchObject({ outcome: 'prompt', reason: 'clock-skew-first-code' });
    const skipped = attempt(phone(2), first.counters);
    expect(skipped).toMatchObject({ outcome: 'prompt', reason: 'clock-skew-first-code' });
    expect(skipped.counters.skewStep).toBe(timeStep(REAL) + 2);
  });

  it('the next step at another offset (typed minutes later) starts over', () => {
    const first = attempt(phone(), { ...EMPTY_COUNTERS });
    const late = attempt(generateCode(totp, REAL + 30_000), first.counters, LOCAL + 150_000);
    expect(late).toMatchObject({ outcome: 'prompt', reason: 'clock-skew-first-code' });
  });

  it('a wrong code counts as before and forgets the first code', () => {
    const first = attempt(phone(), { ...EMPTY_COUNTERS });
    const valid = new Set(Array.from({ length: 41 }, (_, i) => phone(i - 20)));
    const wrong = ['000000', '111111', '222222'].find((c) => !valid.has(c))!;
    const w = attempt(wrong, first.counters);
    expect(w).toMatchObject({ outcome: 'invalid', reason: 'mismatch' });
    expect(w.counters).toMatchObject({ failures: 1, skewStep: null, skewOffset: null });
    expect(attempt(phone(1), w.counters)).toMatchObject({ reason: 'clock-skew-first-code' });
  });

  it('further off than 10 minutes: a wrong code', () => {
    const far = generateCode(totp, LOCAL + 11 * 60_000);
    expect(attempt(far, { ...EMPTY_COUNTERS })).toMatchObject({
      outcome: 'invalid',
      reason: 'mismatch',
    });
  });

  it('a step at or before the replay guard is never found by the wide search', () => {
    const guard = { ...EMPTY_COUNTERS, lastStep: timeStep(REAL) };
    expect(attempt(phone(), guard)).toMatchObject({ outcome: 'invalid' });
    const first = attempt(phone(1), guard);
    expect(first).toMatchObject({ reason: 'clock-skew-first-code' });
  });
});
