/**
 * Portal sign-in limiting, per user name, like logins at a device: `maxAttempts` consecutive
 * failures lock the name for `lockoutSeconds` (0 = until an admin unlocks, which the user record
 * shows as a newer `unlockedAt`). Names that do not exist are counted the same way, so the
 * answers never tell whether a user exists. Kept in memory (see docs/portal.md).
 *
 * An attempt is `reserve`d before it is judged: the check and the count are one synchronous
 * step, so a burst of parallel requests whose judging awaits (scrypt, the store) cannot all pass
 * the check before any of them is counted. The reservation counts as a failure until it is
 * settled: `fail` keeps it, `succeed` clears the key, `release` (not judged after all, or a
 * success that must not reset the count) takes it back.
 */

export interface Limits {
  maxAttempts: number;
  lockoutSeconds: number;
  /** Failures older than this are forgotten (for counters no success ever resets). */
  forgetAfterSeconds?: number;
}

interface Entry {
  failures: number;
  lockedAt: number | null;
  lastFailureAt: number;
}

export type LimitState =
  { locked: false; attemptsLeft: number } | { locked: true; until: number | null };

/** An attempt counted in advance; the first of its methods called settles it (the rest no-op). */
export interface Reservation {
  /** The attempt failed: it stays counted. Returns the state after. */
  fail(): LimitState;
  /** The attempt succeeded: the key's failures are forgotten (a per-name counter). */
  succeed(): void;
  /** The attempt was not judged, or succeeded on a counter no success resets: uncount it. */
  release(): void;
}

export type Reserved =
  { ok: true; hold: Reservation } | { ok: false; state: { locked: true; until: number | null } };

export class SignInLimiter {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly maxEntries = 50_000) {}

  /** The state of `user` now; a lockout ends when it runs out or an admin unlocked after it. */
  state(user: string, limits: Limits, now: number, unlockedAt: number | null): LimitState {
    const e = this.entries.get(user);
    if (!e) return { locked: false, attemptsLeft: limits.maxAttempts };
    if (e.lockedAt !== null) {
      const until = limits.lockoutSeconds === 0 ? null : e.lockedAt + limits.lockoutSeconds * 1000;
      const expired = until !== null && now >= until;
      const unlocked = unlockedAt !== null && unlockedAt >= e.lockedAt;
      if (!expired && !unlocked) return { locked: true, until };
      this.entries.delete(user);
      return { locked: false, attemptsLeft: limits.maxAttempts };
    }
    const stale =
      limits.forgetAfterSeconds !== undefined &&
      now - e.lastFailureAt >= limits.forgetAfterSeconds * 1000;
    if (stale || (unlockedAt !== null && unlockedAt >= e.lastFailureAt)) {
      this.entries.delete(user);
      return { locked: false, attemptsLeft: limits.maxAttempts };
    }
    return { locked: false, attemptsLeft: Math.max(0, limits.maxAttempts - e.failures) };
  }

  /**
   * Checks and counts one attempt at once: refused when `user` is locked, or when the attempts
   * in flight already reach the limit (they lock it as they are counted).
   */
  reserve(user: string, limits: Limits, now: number, unlockedAt: number | null): Reserved {
    const before = this.state(user, limits, now, unlockedAt);
    if (before.locked) return { ok: false, state: before };
    this.fail(user, limits, now);
    const entry = this.entries.get(user) as Entry;
    let settled = false;
    const settle = (): boolean => {
      const first = !settled;
      settled = true;
      return first;
    };
    return {
      ok: true,
      hold: {
        fail: () => {
          if (!settle() || this.entries.get(user) === entry) return this.current(user, limits);
          // A success (or an expiry) cleared the key meanwhile: this failure comes after it.
          return this.fail(user, limits, now);
        },
        succeed: () => {
          if (settle()) this.entries.delete(user);
        },
        release: () => {
          if (!settle() || this.entries.get(user) !== entry) return;
          entry.failures -= 1;
          if (entry.lockedAt !== null && entry.failures < limits.maxAttempts) entry.lockedAt = null;
          if (entry.failures <= 0) this.entries.delete(user);
        },
      },
    };
  }

  private current(user: string, limits: Limits): LimitState {
    const e = this.entries.get(user);
    if (!e) return { locked: false, attemptsLeft: limits.maxAttempts };
    if (e.lockedAt !== null)
      return {
        locked: true,
        until: limits.lockoutSeconds === 0 ? null : e.lockedAt + limits.lockoutSeconds * 1000,
      };
    return { locked: false, attemptsLeft: Math.max(0, limits.maxAttempts - e.failures) };
  }

  /** Counts one failure (call `state` first: it forgets what ran out); returns the state after. */
  private fail(user: string, limits: Limits, now: number): LimitState {
    let e = this.entries.get(user);
    if (!e) {
      if (this.entries.size >= this.maxEntries) this.evictOne();
      e = { failures: 0, lockedAt: null, lastFailureAt: now };
      this.entries.set(user, e);
    }
    e.failures += 1;
    e.lastFailureAt = now;
    if (e.failures >= limits.maxAttempts) {
      e.lockedAt = now;
      return {
        locked: true,
        until: limits.lockoutSeconds === 0 ? null : now + limits.lockoutSeconds * 1000,
      };
    }
    return { locked: false, attemptsLeft: limits.maxAttempts - e.failures };
  }

  /** Forget the oldest entry that is not locked (a flood of names must not evict lockouts). */
  private evictOne(): void {
    for (const [k, e] of this.entries) {
      if (e.lockedAt === null) {
        this.entries.delete(k);
        return;
      }
    }
    const first = this.entries.keys().next().value;
    if (first !== undefined) this.entries.delete(first);
  }
}
