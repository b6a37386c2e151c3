/**
 * Checking one code for a user who was prompted. Pure: takes the counters as read under the
 * user's lock and returns the reply plus the counters to write (durably, before replying).
 *
 * - A TOTP code is accepted once: its time step must be newer than the last accepted one.
 *   A replayed code counts as a failed attempt (it is what an onlooker would try).
 * - maxAttempts consecutive failures lock the user for lockoutSeconds (0 = until unlocked).
 * - Success resets the failure count.
 * - Recovery codes (`xxxx-xxxx-xxxx`): see RecoveryVerifier. Until one is plugged in they are
 *   refused like a wrong code (and counted), never accepted.
 */
import { verifyCode } from '../../protocol/totp.js';
import type { Policy } from '../../protocol/policy.js';
import type { CachedUser, Counters } from '../store/cache.js';
import type { Decision } from './decide.js';
import { lockState } from './decide.js';
import { MESSAGES } from './messages.js';

/**
 * The seam for recovery codes (issue 6): given the user's stored slow hashes and the typed code,
 * return the index of the matching hash (so the caller can burn it), or null. Not implemented in
 * the agent yet: `verifyAttempt` is called with `recovery: null` and refuses every recovery code.
 */
export type RecoveryVerifier = (hashes: readonly string[], code: string) => Promise<number | null>;

export const RECOVERY_RE = /^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$/;

export interface VerifyInput {
  now: number;
  policy: Policy;
  user: CachedUser;
  counters: Counters;
  code: string;
}

export interface VerifyResult extends Decision {
  counters: Counters;
}

export function verifyAttempt(input: VerifyInput): VerifyResult {
  const { now, policy, user } = input;
  const lock = lockState(input.counters, user.unlockedAt, now);
  if (lock.locked) {
    return {
      reply: { type: 'locked', until: lock.until, message: MESSAGES.locked(lock.until, now) },
      outcome: 'locked',
      reason: 'locked',
      counters: lock.counters,
    };
  }
  const counters = lock.counters;
  let reason: 'mismatch' | 'replay' | 'format' | 'recovery-unsupported';
  if (user.totp === null) {
    reason = 'mismatch';
  } else if (RECOVERY_RE.test(input.code)) {
    reason = 'recovery-unsupported';
  } else {
    const r = verifyCode(user.totp, input.code, now, policy.window, counters.lastStep);
    if (r.ok) {
      return {
        reply: { type: 'ok' },
        outcome: 'ok',
        counters: {
          failures: 0,
          lastFailureAt: null,
          lockedAt: null,
          lockedUntil: null,
          lastStep: r.step,
        },
      };
    }
    reason = r.reason;
  }
  const failures = counters.failures + 1;
  if (failures >= policy.maxAttempts) {
    const until = policy.lockoutSeconds === 0 ? null : now + policy.lockoutSeconds * 1000;
    return {
      reply: { type: 'locked', until, message: MESSAGES.locked(until, now) },
      outcome: 'locked',
      reason,
      counters: { ...counters, failures, lastFailureAt: now, lockedAt: now, lockedUntil: until },
    };
  }
  const left = policy.maxAttempts - failures;
  return {
    reply: {
      type: 'invalid',
      attemptsLeft: left,
      message: reason === 'replay' ? MESSAGES.replayed(left) : MESSAGES.wrongCode(left),
    },
    outcome: 'invalid',
    reason,
    counters: { ...counters, failures, lastFailureAt: now },
  };
}
