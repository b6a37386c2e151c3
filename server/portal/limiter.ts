/**
 * Portal sign-in limiting, per user name, like logins at a device: `maxAttempts` consecutive
 * failures lock the name for `lockoutSeconds` (0 = until an admin unlocks, which the user record
 * shows as a newer `unlockedAt`). Names that do not exist are counted the same way, so the
 * answers never tell whether a user exists. Kept in memory (see docs/portal.md).
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

  /** Counts one failure (call `state` first: it forgets what ran out); returns the state after. */
  fail(user: string, limits: Limits, now: number): LimitState {
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

  succeed(user: string): void {
    this.entries.delete(user);
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
