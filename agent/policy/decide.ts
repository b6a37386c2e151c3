/**
 * The login decision at `begin`: skip / prompt / deny, from the cached policy, user and counters.
 * Pure: every input (including the clock) is passed in, so the whole table is unit-tested.
 *
 * Order (first match wins):
 *  0. the device was revoked → deny (exempt users: skip)
 *  1. no policy yet, or the cache is older than offlineMaxAgeSeconds → failMode
 *     (secure: deny; safe: skip, recorded as `failopen`)
 *  2. mfa off for this device group → skip
 *  3. the PAM service is not one that asks → skip
 *  4. exempt user (break-glass) → skip
 *  5. user unknown here (names matched by agent/policy/names.ts: exact, else case-insensitive)
 *     → policy.unknownUsers (skip: not managed here; deny); a name matching several → deny
 *  6. suspended → deny
 *  7. the server locked the account on every device (accountMaxFailures) → deny, outcome
 *     `locked`, reason `account` (no code checked: no self-unlock, no trusted network)
 *  8. PAM_RHOST a literal address inside policy.trustedNetworks, and not a console login → skip
 *     (reason `trusted-network`)
 *  9. locked out here → with policy.selfUnlock (and self-unlock attempts left), prompt: two
 *     consecutive valid codes end the lockout (agent/policy/verify.ts); else deny with the
 *     lockout message (outcome `locked`)
 * 10. not enrolled → skip with the deadline during the enrollment grace, deny after it
 * 11. a code was accepted for this user and service within policy.rememberSeconds (the engine
 *     keeps that memory and forgets it on any failure, lock, reset or policy change) → skip
 *     (reason `remembered`)
 * 12. otherwise → prompt for `policy.prompts` codes
 */
import { insideAny } from '../../protocol/cidr.js';
import { GRACE_ENDED, type LocalReply, type Outcome } from '../../protocol/messages.js';
import { serviceRequiresCode, type Policy } from '../../protocol/policy.js';
import type { CachedUser, Counters, SyncState } from '../store/cache.js';
import { MESSAGES } from './messages.js';

export const DAY_MS = 86_400_000;

export interface Decision {
  reply: LocalReply;
  outcome: Outcome;
  /** Short machine-readable reason stored with the event. */
  reason?: string;
}

export interface LockState {
  locked: boolean;
  /** Epoch ms the lockout ends; null = until unlocked. Meaningful only when locked. */
  until: number | null;
  /** The counters with an expired or admin-cleared lockout removed. */
  counters: Counters;
}

/**
 * A user's effective lockout now. A lockout ends when its time has passed or when the server's
 * `unlockedAt` is at or after the moment it started; either way the failure count restarts.
 */
export function lockState(counters: Counters, unlockedAt: number | null, now: number): LockState {
  const cleared = {
    ...counters,
    failures: 0,
    lastFailureAt: null,
    lockedAt: null,
    lockedUntil: null,
    unlockStep: null,
  };
  if (counters.lockedAt !== null) {
    const adminCleared = unlockedAt !== null && unlockedAt >= counters.lockedAt;
    const expired = counters.lockedUntil !== null && now >= counters.lockedUntil;
    if (adminCleared || expired) return { locked: false, until: null, counters: cleared };
    return { locked: true, until: counters.lockedUntil, counters };
  }
  if (
    unlockedAt !== null &&
    counters.lastFailureAt !== null &&
    unlockedAt >= counters.lastFailureAt
  ) {
    return { locked: false, until: null, counters: cleared };
  }
  return { locked: false, until: null, counters };
}

/** When the cache can no longer be trusted: null when it can. */
export function staleness(
  state: SyncState,
  connected: boolean,
  now: number,
): 'never-synced' | 'offline-too-long' | null {
  if (state.policy === null || state.lastSyncAt === null) return 'never-synced';
  if (connected) return null;
  // Absolute: a clock set back far before the last sync says nothing about the cache's age, and
  // must not keep a stale cache valid for ever.
  return Math.abs(now - state.lastSyncAt) > state.policy.offlineMaxAgeSeconds * 1000
    ? 'offline-too-long'
    : null;
}

export interface BeginInput {
  now: number;
  state: SyncState;
  connected: boolean;
  /** The server revoked this device: only exempt users get through. */
  revoked?: boolean;
  /** The login name as typed: exemption matches it exactly (never case-folded). */
  user: string;
  service: string;
  /** PAM_RHOST and PAM_TTY as the application set them. */
  rhost?: string | undefined;
  tty?: string | undefined;
  /** The engine remembers a recent accepted code for this user and service (rememberSeconds). */
  remembered?: boolean;
  /** The cached user (matched by agent/policy/names.ts), null when there is none. */
  record: CachedUser | null;
  /** The name matches several cached users in different case: refused, whatever unknownUsers. */
  ambiguousName?: boolean;
  counters: Counters;
}

export function decideBegin(input: BeginInput): Decision {
  const { now, state } = input;
  if (input.revoked) {
    // The server no longer vouches for this device's cache: no code is accepted here, whatever
    // failMode says; only the break-glass accounts, which are never asked for one, get through.
    if (state.policy?.exemptUsers.includes(input.user)) return skip('exempt');
    return {
      reply: { type: 'deny', message: MESSAGES.revoked },
      outcome: 'deny',
      reason: 'revoked',
    };
  }
  const stale = staleness(state, input.connected, now);
  if (stale !== null || state.policy === null) {
    const reason = stale ?? 'never-synced';
    if (state.policy?.failMode === 'safe') {
      return { reply: { type: 'skip', message: MESSAGES.failOpen }, outcome: 'failopen', reason };
    }
    const message = reason === 'never-synced' ? MESSAGES.neverSynced : MESSAGES.stale;
    return { reply: { type: 'deny', message }, outcome: 'deny', reason };
  }
  const policy: Policy = state.policy;
  if (policy.mfa === 'off') return skip('mfa-off');
  if (!serviceRequiresCode(policy, input.service)) return skip('service-not-covered');
  if (policy.exemptUsers.includes(input.user)) return skip('exempt');
  const u = input.record;
  if (u === null) {
    if (input.ambiguousName) {
      return {
        reply: { type: 'deny', message: MESSAGES.ambiguousName },
        outcome: 'deny',
        reason: 'ambiguous-name',
      };
    }
    return policy.unknownUsers === 'deny'
      ? {
          reply: { type: 'deny', message: MESSAGES.unknownDenied },
          outcome: 'deny',
          reason: 'unknown-user',
        }
      : skip('unknown-user');
  }
  if (u.status === 'suspended') {
    return {
      reply: { type: 'deny', message: MESSAGES.suspended },
      outcome: 'deny',
      reason: 'suspended',
    };
  }
  if (u.accountLockedAt !== null) return accountLocked('deny');
  if (fromTrustedNetwork(policy, input.rhost, input.tty)) return skip('trusted-network');
  const lock = lockState(input.counters, u.unlockedAt, now);
  if (lock.locked) {
    if (selfUnlockOpen(policy, u, lock.counters)) {
      return {
        reply: {
          type: 'prompt',
          prompts: Math.max(2, policy.prompts),
          message: MESSAGES.selfUnlockOffer(lock.until, now),
        },
        // No code checked yet: the same event as the plain lockout's refusal.
        outcome: 'locked',
        reason: 'locked',
      };
    }
    return {
      reply: { type: 'deny', message: MESSAGES.locked(lock.until, now) },
      outcome: 'locked',
      reason: 'locked',
    };
  }
  if (u.totp === null) {
    if (u.graceStartedAt === GRACE_ENDED)
      return {
        reply: { type: 'deny', message: MESSAGES.graceEnded },
        outcome: 'deny',
        reason: 'not-enrolled',
      };
    const deadline = u.graceStartedAt + policy.enrollmentGraceDays * DAY_MS;
    if (now < deadline) {
      return {
        reply: { type: 'skip', message: MESSAGES.graceUntil(deadline) },
        outcome: 'skip',
        reason: 'grace',
      };
    }
    return {
      reply: { type: 'deny', message: MESSAGES.graceOver(deadline) },
      outcome: 'deny',
      reason: 'not-enrolled',
    };
  }
  if (input.remembered && policy.rememberSeconds > 0) return skip('remembered');
  return { reply: { type: 'prompt', prompts: policy.prompts }, outcome: 'prompt' };
}

/**
 * The account lock (issue 14): reached over all devices, pushed by the server, lifted only by an
 * admin unlock. No code is checked while it holds (so no self-unlock, and no count).
 */
export function accountLocked(type: 'deny' | 'locked'): Decision {
  return {
    reply:
      type === 'deny'
        ? { type, message: MESSAGES.accountLocked }
        : { type, until: null, message: MESSAGES.accountLocked },
    outcome: 'locked',
    reason: 'account',
  };
}

/** A console: a virtual terminal, the system console, a serial line or a local X display. */
const CONSOLE_TTY = /^(\/dev\/)?(tty[0-9]+|console|ttyS[0-9]+|ttyv[0-9a-f]+)$|^:[0-9]/;

/**
 * True when the login comes from a trusted network: PAM_RHOST is a literal address inside one of
 * policy.trustedNetworks. A console login never is, whatever PAM_RHOST says.
 */
export function fromTrustedNetwork(
  policy: Policy,
  rhost: string | undefined,
  tty: string | undefined,
): boolean {
  if (policy.trustedNetworks.length === 0 || rhost === undefined) return false;
  if (tty !== undefined && CONSOLE_TTY.test(tty)) return false;
  return insideAny(rhost, policy.trustedNetworks);
}

/**
 * Self-unlock is offered to an enrolled, active user locked out by failures while the policy
 * allows it and the lockout has not already seen maxAttempts more wrong codes (a brute-forcer
 * without the phone gets no more guesses during a lockout than before it).
 */
export function selfUnlockOpen(policy: Policy, user: CachedUser, counters: Counters): boolean {
  return (
    policy.selfUnlock &&
    user.totp !== null &&
    user.status === 'active' &&
    counters.failures < 2 * policy.maxAttempts
  );
}

function skip(reason: string): Decision {
  return { reply: { type: 'skip' }, outcome: 'skip', reason };
}
