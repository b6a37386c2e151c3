/**
 * Checking one code for a user who was prompted. Pure: takes the counters as read under the
 * user's lock and returns the reply plus the counters to write (durably, before replying).
 *
 * - A TOTP code is accepted once: its time step must be newer than the last accepted one.
 *   A replayed code counts as a failed attempt (it is what an onlooker would try).
 * - maxAttempts consecutive failures lock the user for lockoutSeconds (0 = until unlocked).
 * - Success resets the failure count.
 * - Recovery codes (`xxxx-xxxx-xxxx`): the slow hash check is async, so the engine runs it first
 *   (agent/policy/recovery.ts, only for an enrolled, active user who is not locked out) and passes
 *   the matching code's id here as `recovery`. A match is an `ok` (reason `recovery`, the id goes
 *   into the event so the server removes the code everywhere); no match is a failed attempt
 *   exactly like a wrong TOTP code. The TOTP replay guard is left as it is.
 */
import { RECOVERY_CODE_RE } from '../../protocol/recovery.js';
import { verifyCode } from '../../protocol/totp.js';
import type { Policy } from '../../protocol/policy.js';
import type { CachedUser, Counters } from '../store/cache.js';
import type { Decision } from './decide.js';
import { accountLocked, lockState, selfUnlockOpen } from './decide.js';
import { MESSAGES } from './messages.js';
import { forgetSkew, skewAttempt } from './skew.js';

/**
 * The seam for recovery codes: given the user's usable slow hashes and the typed code, return the
 * index of the matching hash (so the caller can burn it), or null. Every hash is tried.
 */
export type RecoveryVerifier = (hashes: readonly string[], code: string) => Promise<number | null>;

export const RECOVERY_RE = RECOVERY_CODE_RE;

/** The outcome of the recovery-code check the engine ran before calling verifyAttempt. */
export interface RecoveryMatch {
  /** recoveryCodeId of the matching hash (never the code). */
  codeId: string;
  /** Recovery codes the user has left after this one (as this device knows it). */
  left: number;
}

export interface VerifyInput {
  now: number;
  policy: Policy;
  user: CachedUser;
  counters: Counters;
  code: string;
  /** For a recovery-form code: the match found, or null/absent when none matched. */
  recovery?: RecoveryMatch | null;
  /** No server time since boot: a code off the window may teach the skew (./skew.ts). */
  wide?: boolean;
}

export interface VerifyResult extends Decision {
  counters: Counters;
  /** An accepted TOTP code: its time step, sent with the event (the fleet-wide replay guard). */
  step?: number;
  /** Set on a recovery login: the code to record as used, in the same transaction. */
  recoveryCodeId?: string;
  /** Two consecutive codes found the clock off by this much (./skew.ts): keep it until a sync. */
  clockCorrectionMs?: number;
}

/**
 * Whether the engine should run the (slow) recovery-code check for this attempt: a recovery-form
 * code from an enrolled, active user who is not locked out. Anyone else gets no hash work.
 */
export function wantsRecoveryCheck(
  user: CachedUser,
  counters: Counters,
  code: string,
  now: number,
): boolean {
  return (
    RECOVERY_RE.test(code) &&
    user.totp !== null &&
    user.status === 'active' &&
    user.accountLockedAt === null &&
    user.recoveryCodes.length > 0 &&
    !lockState(counters, user.unlockedAt, now).locked
  );
}

export function verifyAttempt(input: VerifyInput): VerifyResult {
  const { now, policy, user } = input;
  if (user.accountLockedAt !== null)
    return { ...accountLocked('locked'), counters: input.counters };
  const lock = lockState(input.counters, user.unlockedAt, now);
  if (lock.locked && selfUnlockOpen(policy, user, lock.counters) && user.totp !== null) {
    return selfUnlockAttempt(input, user.totp, lock.counters, lock.until);
  }
  if (lock.locked) {
    return {
      reply: { type: 'locked', until: lock.until, message: MESSAGES.locked(lock.until, now) },
      outcome: 'locked',
      reason: 'locked',
      counters: lock.counters,
    };
  }
  // Anything but a second consecutive code forgets a first code found off the clock (./skew.ts).
  const counters = forgetSkew(lock.counters);
  let reason: 'mismatch' | 'replay' | 'format';
  if (user.totp === null) {
    reason = 'mismatch';
  } else if (RECOVERY_RE.test(input.code)) {
    const match = input.recovery;
    if (match) {
      return {
        reply: { type: 'ok', message: MESSAGES.recoveryAccepted(match.left) },
        outcome: 'ok',
        reason: 'recovery',
        recoveryCodeId: match.codeId,
        // The failure count restarts as after any success; the TOTP replay guard stays.
        counters: {
          ...counters,
          failures: 0,
          lastFailureAt: null,
          lockedAt: null,
          lockedUntil: null,
        },
      };
    }
    reason = 'mismatch';
  } else {
    const r = verifyCode(user.totp, input.code, now, policy.window, counters.lastStep);
    if (r.ok) {
      return {
        reply: { type: 'ok' },
        outcome: 'ok',
        step: r.step,
        counters: afterSuccess(r.step),
      };
    }
    const wide =
      input.wide && r.reason === 'mismatch'
        ? skewAttempt(input, user.totp, lock.counters, afterSuccess)
        : null;
    if (wide) return wide;
    reason = r.reason;
  }
  return failedAttempt(policy, counters, now, reason, (left) =>
    reason === 'replay' ? MESSAGES.replayed(left) : MESSAGES.wrongCode(left),
  );
}

/**
 * One more failed attempt outside a lockout: the user is locked at maxAttempts (for
 * lockoutSeconds, 0 = until unlocked), else told the attempts left in `message(left)`.
 */
export function failedAttempt<R extends string>(
  policy: Policy,
  counters: Counters,
  now: number,
  reason: R,
  message: (left: number) => string,
): VerifyResult & { reason: R } {
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
    reply: { type: 'invalid', attemptsLeft: left, message: message(left) },
    outcome: 'invalid',
    reason,
    counters: { ...counters, failures, lastFailureAt: now },
  };
}

/** The counters after a TOTP code of `step` was accepted: failures and any lockout gone. */
function afterSuccess(step: number): Counters {
  return {
    failures: 0,
    lastFailureAt: null,
    lockedAt: null,
    lockedUntil: null,
    lastStep: step,
    unlockStep: null,
    skewStep: null,
    skewOffset: null,
  };
}

/**
 * A code typed while locked out, with self-unlock open (decide.ts selfUnlockOpen): multiOTP's
 * rule, two consecutive valid codes. A valid code (newer than the replay guard) is remembered as
 * `unlockStep` and burnt like any accepted code; the code of the very next step ends the lockout.
 * Anything else (wrong, replayed, a recovery code) forgets the first code and counts one more
 * failure, which never extends the lockout; after maxAttempts of them the lockout can only end by
 * its time or an admin.
 */
function selfUnlockAttempt(
  input: VerifyInput,
  totp: NonNullable<CachedUser['totp']>,
  counters: Counters,
  until: number | null,
): VerifyResult {
  const { now, policy } = input;
  const r = RECOVERY_RE.test(input.code)
    ? ({ ok: false, reason: 'mismatch' } as const)
    : verifyCode(totp, input.code, now, policy.window, counters.lastStep);
  if (r.ok && counters.unlockStep !== null && r.step === counters.unlockStep + 1) {
    return {
      reply: { type: 'ok', message: MESSAGES.selfUnlocked },
      outcome: 'ok',
      reason: 'self-unlock',
      step: r.step,
      counters: afterSuccess(r.step),
    };
  }
  const budget = 2 * policy.maxAttempts - counters.failures;
  if (r.ok) {
    return {
      reply: {
        type: 'invalid',
        attemptsLeft: Math.max(1, budget),
        message: MESSAGES.selfUnlockNext,
      },
      // A valid code: neither a failure nor yet a success (the server's account budget counts
      // `invalid` and `locked` as failures).
      outcome: 'prompt',
      reason: 'self-unlock-first-code',
      counters: { ...counters, lastStep: r.step, unlockStep: r.step },
    };
  }
  const next: Counters = {
    ...counters,
    failures: counters.failures + 1,
    lastFailureAt: now,
    unlockStep: null,
  };
  const left = budget - 1;
  return {
    reply:
      left > 0
        ? {
            type: 'invalid',
            attemptsLeft: left,
            message: MESSAGES.selfUnlockWrong(until, now, left),
          }
        : { type: 'locked', until, message: MESSAGES.selfUnlockSpent(until, now) },
    outcome: 'locked',
    reason: r.reason,
    counters: next,
  };
}
