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
 *     `locked`, reason `account`; else locked out here → deny with the lockout message
 *  8. not enrolled → skip with the deadline during the enrollment grace, deny after it
 *  9. otherwise → prompt for `policy.prompts` codes
 */
import type { LocalReply, Outcome } from '../../protocol/messages.js';
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
  const lock = lockState(input.counters, u.unlockedAt, now);
  if (lock.locked) {
    return {
      reply: { type: 'deny', message: MESSAGES.locked(lock.until, now) },
      outcome: 'locked',
      reason: 'locked',
    };
  }
  if (u.totp === null) {
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

function skip(reason: string): Decision {
  return { reply: { type: 'skip' }, outcome: 'skip', reason };
}
