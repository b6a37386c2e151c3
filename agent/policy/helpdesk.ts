/**
 * Helpdesk codes at the prompt (issue 15): the login decision's part, pure like decide.ts and
 * verify.ts. The engine reads the device's key and whether the code was used, then calls these.
 *
 * The rules (docs/agent.md, "A bad day"):
 * - A helpdesk code (12 digits, protocol/helpdesk.ts) is checked against this device's secret for
 *   the user at the prompt. Valid, unexpired and not used here before → `ok` with reason
 *   `helpdesk`; the used code is recorded with the event, in one transaction.
 * - It is accepted while the user is locked out on this device, and while the server's account
 *   lock holds: the helpdesk vouched for this person, which is the bad day it is for. It ends the
 *   lockout here and resets the failure count (the account lock stays for the other logins until
 *   an admin unlocks it: the code is for one login).
 * - Refused for a suspended or unknown user (decideBegin denies them before any code), and for a
 *   user with no authenticator (the server issues none for them).
 * - A wrong, expired or used one is a failed attempt like a wrong TOTP code. While locked out,
 *   a failure never extends the lockout, and once the lockout has seen maxAttempts more wrong
 *   codes (2 × maxAttempts in all, the self-unlock budget) no code is checked until it ends: a
 *   guesser gets no more tries during a lockout than before it.
 * - While the account lock holds there is no "until it ends" on this device: the end of a
 *   device lockout does not restart the count, so this device judges at most 2 × maxAttempts
 *   failures in all until an admin unlock (also offline). And account-wide: once the failures
 *   the server counted over every device reach helpdeskAccountCap (2 × accountMaxFailures,
 *   pushed with each one), no device judges a code for the user until an admin unlocks.
 * - A helpdesk login starts no remembered success (rememberSeconds): the next login asks again.
 */
import type { Policy } from '../../protocol/policy.js';
import { checkHelpdeskCode, helpdeskAccountCap } from '../../protocol/helpdesk.js';
import type { CachedUser, Counters } from '../store/cache.js';
import type { HelpdeskKey } from '../store/helpdesk.js';
import { lockState, type Decision } from './decide.js';
import { MESSAGES, clockTime } from './messages.js';
import { failedAttempt, type VerifyResult } from './verify.js';

const attempts = (n: number): string => `${n} ${n === 1 ? 'attempt' : 'attempts'} left`;

export const HELPDESK_MESSAGES = {
  accepted:
    'Helpdesk code accepted (it works only once). Set up your authenticator app again in the portal when you can',
  offer: (refusal: string) => `${refusal}. A helpdesk code from your administrator works here`,
  expired: (expiresAt: number, now: number, left: number) =>
    `This helpdesk code expired at ${clockTime(expiresAt, now)}; ask for a new one (${attempts(left)})`,
  used: (left: number) =>
    `This helpdesk code was already used here; ask for a new one (${attempts(left)})`,
  closed:
    'Too many wrong codes on this account: it stays locked until an administrator unlocks it (helpdesk codes no longer work)',
} as const;

/** A helpdesk code may be checked for this user now (see the rules above). */
function checkable(policy: Policy, user: CachedUser | null, counters: Counters): boolean {
  return (
    user !== null &&
    user.status === 'active' &&
    user.totp !== null &&
    counters.failures < 2 * policy.maxAttempts &&
    !capReached(policy, user)
  );
}

/** The account-wide cap, as far as the server's last push says. */
function capReached(policy: Policy, user: CachedUser): boolean {
  return (
    user.accountLockedAt !== null &&
    user.accountFailures >= helpdeskAccountCap(policy.accountMaxFailures)
  );
}

/**
 * lockState for a helpdesk code: while the account lock holds, a device lockout that ran out
 * ends without restarting the failure count (only an admin unlock restarts it), so the budget
 * is per account lock, not per lockout window.
 */
function helpdeskLock(counters: Counters, user: CachedUser, now: number) {
  const lock = lockState(counters, user.unlockedAt, now);
  if (user.accountLockedAt === null || lock.locked || counters.lockedAt === null) return lock;
  if (user.unlockedAt !== null && user.unlockedAt >= counters.lockedAt) return lock;
  return {
    ...lock,
    counters: { ...counters, lockedAt: null, lockedUntil: null, unlockStep: null },
  };
}

/** Nothing more is judged for this user until an admin unlocks (the account lock holds). */
function closedForGood(policy: Policy, user: CachedUser, counters: Counters): boolean {
  return (
    user.accountLockedAt !== null &&
    (capReached(policy, user) || counters.failures >= 2 * policy.maxAttempts)
  );
}

/**
 * At `begin`: a login refused only because of a lockout (this device's, or the account's) is
 * asked for a code after all when a helpdesk code could let it in. The event stays the refusal's
 * (no code was checked yet).
 */
export function helpdeskBegin(
  decision: Decision,
  input: {
    now: number;
    policy: Policy | null;
    user: CachedUser | null;
    counters: Counters;
    hasKey: boolean;
  },
): Decision {
  const { policy, user, now } = input;
  if (!input.hasKey || !policy || !user) return decision;
  if (decision.outcome !== 'locked' || decision.reply.type !== 'deny') return decision;
  const counters = helpdeskLock(input.counters, user, now).counters;
  if (closedForGood(policy, user, counters) && user.status === 'active' && user.totp !== null)
    return { ...decision, reply: { type: 'deny', message: HELPDESK_MESSAGES.closed } };
  if (!checkable(policy, user, counters)) return decision;
  return {
    ...decision,
    reply: {
      type: 'prompt',
      prompts: policy.prompts,
      message: HELPDESK_MESSAGES.offer(decision.reply.message),
    },
  };
}

export interface HelpdeskInput {
  now: number;
  policy: Policy;
  user: CachedUser;
  counters: Counters;
  /** The 12 digits as the helper sent them. */
  code: string;
  /** This device's key; null when it was registered before helpdesk codes. */
  key: HelpdeskKey | null;
  /** The code was accepted here before. */
  used: boolean;
}

export interface HelpdeskResult extends VerifyResult {
  /** Set on an accepted code: when it expires (the used-code row is kept until then). */
  helpdeskExpiresAt?: number;
}

export function verifyHelpdesk(input: HelpdeskInput): HelpdeskResult {
  const { now, policy, user } = input;
  const lock = helpdeskLock(input.counters, user, now);
  const counters = lock.counters;
  if (closedForGood(policy, user, counters)) {
    // No code checked: reason `account`, which no server counts as a failure.
    return {
      reply: { type: 'locked', until: null, message: HELPDESK_MESSAGES.closed },
      outcome: 'locked',
      reason: 'account',
      counters,
    };
  }
  if (!checkable(policy, user, counters)) {
    return {
      reply: { type: 'locked', until: lock.until, message: MESSAGES.locked(lock.until, now) },
      outcome: 'locked',
      reason: 'locked',
      counters,
    };
  }
  const check = input.key
    ? checkHelpdeskCode(input.key.secret, input.key.deviceId, user.name, input.code, now)
    : ({ ok: false, reason: 'mismatch' } as const);
  if (check.ok && !input.used) {
    return {
      reply: { type: 'ok', message: HELPDESK_MESSAGES.accepted },
      outcome: 'ok',
      reason: 'helpdesk',
      helpdeskExpiresAt: check.expiresAt,
      // As after any success, but the TOTP replay guard stays.
      counters: {
        ...counters,
        failures: 0,
        lastFailureAt: null,
        lockedAt: null,
        lockedUntil: null,
        unlockStep: null,
      },
    };
  }
  const reason = check.ok ? 'helpdesk-used' : `helpdesk-${check.reason}`;
  const failures = counters.failures + 1;
  const text = (left: number): string =>
    check.ok
      ? HELPDESK_MESSAGES.used(left)
      : check.reason === 'expired'
        ? HELPDESK_MESSAGES.expired(check.expiresAt, now, left)
        : MESSAGES.wrongCode(left);
  if (user.accountLockedAt !== null) {
    // The account lock holds: one more failure of this device's budget and of the account's
    // (as last pushed, plus this one); when either is spent, nothing more until an admin unlock.
    const left = Math.min(
      2 * policy.maxAttempts - failures,
      helpdeskAccountCap(policy.accountMaxFailures) - (user.accountFailures + 1),
    );
    return {
      reply:
        left > 0
          ? { type: 'invalid', attemptsLeft: left, message: text(left) }
          : { type: 'locked', until: null, message: HELPDESK_MESSAGES.closed },
      outcome: 'locked',
      reason,
      counters: { ...counters, failures, lastFailureAt: now, unlockStep: null },
    };
  }
  if (lock.locked) {
    // Already locked: one more failure of the lockout's budget, the lockout itself unchanged.
    const left = 2 * policy.maxAttempts - failures;
    const next: Counters = { ...counters, failures, lastFailureAt: now, unlockStep: null };
    return {
      reply:
        left > 0
          ? { type: 'invalid', attemptsLeft: left, message: text(left) }
          : { type: 'locked', until: lock.until, message: MESSAGES.locked(lock.until, now) },
      outcome: 'locked',
      reason,
      counters: next,
    };
  }
  return failedAttempt(policy, counters, now, reason, text);
}
