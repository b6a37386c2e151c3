/**
 * Portal sign-in limiting, per user name, like logins at a device: `maxAttempts` consecutive
 * failures lock the name for `lockoutSeconds` (0 = until an admin unlocks, which the user record
 * shows as a newer `unlockedAt`). Names that do not exist are counted the same way, so the
 * answers never tell whether a user exists. The counters live in the store (store/portal-state.ts),
 * so guesses spread over several replicas count once, against one limit.
 *
 * An attempt is `reserve`d before it is judged: the check and the count are one transaction on
 * the key's row, so a burst of parallel requests (on one replica or many) whose judging awaits
 * (scrypt, the store) cannot all pass the check before any of them is counted. The reservation
 * counts as a failure until it is settled: `fail` keeps it, `succeed` clears the key, `release`
 * (not judged after all, or a success that must not reset the count) takes it back.
 */
import { randomBytes } from 'node:crypto';
import type { LimitEntry, PortalStore } from '../store/portal-state.js';

export interface Limits {
  maxAttempts: number;
  lockoutSeconds: number;
  /** Failures older than this are forgotten (for counters no success ever resets). */
  forgetAfterSeconds?: number;
}

export type LimitState =
  { locked: false; attemptsLeft: number } | { locked: true; until: number | null };

/** An attempt counted in advance; the first of its methods called settles it (the rest no-op). */
export interface Reservation {
  /** The attempt failed: it stays counted. Returns the state after. */
  fail(): Promise<LimitState>;
  /** The attempt succeeded: the key's failures are forgotten (a per-name counter). */
  succeed(): Promise<void>;
  /** The attempt was not judged, or succeeded on a counter no success resets: uncount it. */
  release(): Promise<void>;
}

export type Reserved =
  { ok: true; hold: Reservation } | { ok: false; state: { locked: true; until: number | null } };

/** Counters nobody touched for a day (and not locked) are deleted now and then. */
const PRUNE_AFTER_MS = 86_400_000;
const PRUNE_EVERY_MS = 60_000;

function untilOf(e: LimitEntry, limits: Limits): number | null {
  return limits.lockoutSeconds === 0 || e.lockedAt === null
    ? null
    : e.lockedAt + limits.lockoutSeconds * 1000;
}

/** The entry still in force now, or null: a lockout ran out, an admin unlocked, failures aged. */
function inForce(
  e: LimitEntry | null,
  limits: Limits,
  now: number,
  unlockedAt: number | null,
): LimitEntry | null {
  if (!e) return null;
  if (e.lockedAt !== null) {
    const until = untilOf(e, limits);
    const expired = until !== null && now >= until;
    const unlocked = unlockedAt !== null && unlockedAt >= e.lockedAt;
    return expired || unlocked ? null : e;
  }
  const stale =
    limits.forgetAfterSeconds !== undefined &&
    now - e.lastFailureAt >= limits.forgetAfterSeconds * 1000;
  return stale || (unlockedAt !== null && unlockedAt >= e.lastFailureAt) ? null : e;
}

function stateOf(e: LimitEntry | null, limits: Limits): LimitState {
  if (!e) return { locked: false, attemptsLeft: limits.maxAttempts };
  if (e.lockedAt !== null) return { locked: true, until: untilOf(e, limits) };
  return { locked: false, attemptsLeft: Math.max(0, limits.maxAttempts - e.failures) };
}

/** One more failure on the entry in force (a new counter when there is none). */
function counted(e: LimitEntry | null, limits: Limits, now: number): LimitEntry {
  const base = e ?? {
    failures: 0,
    lockedAt: null,
    lastFailureAt: now,
    generation: randomBytes(9).toString('base64url'),
  };
  const failures = base.failures + 1;
  return {
    ...base,
    failures,
    lastFailureAt: now,
    lockedAt: base.lockedAt ?? (failures >= limits.maxAttempts ? now : null),
  };
}

export class SignInLimiter {
  private lastPrune = 0;

  /** `prefix` keeps this limiter's keys apart from another's in the shared table. */
  constructor(
    private readonly store: PortalStore,
    private readonly prefix: string,
    private readonly clock: () => number,
  ) {}

  /**
   * Checks and counts one attempt at once: refused when `key` is locked, or when the attempts
   * in flight already reach the limit (they lock it as they are counted).
   */
  async reserve(
    key: string,
    limits: Limits,
    now: number,
    unlockedAt: number | null,
  ): Promise<Reserved> {
    this.prune();
    const k = `${this.prefix}:${key}`;
    type First = { ok: false; until: number | null } | { ok: true; generation: string };
    const first = await this.store.updateLimit<First>(k, (e) => {
      const cur = inForce(e, limits, now, unlockedAt);
      if (cur && cur.lockedAt !== null)
        return { next: cur, result: { ok: false, until: untilOf(cur, limits) } };
      const next = counted(cur, limits, now);
      return { next, result: { ok: true, generation: next.generation } };
    });
    if (!first.ok) return { ok: false, state: { locked: true, until: first.until } };
    const { generation } = first;
    let settled = false;
    const settle = (): boolean => {
      const was = settled;
      settled = true;
      return !was;
    };
    return {
      ok: true,
      hold: {
        fail: async () => {
          if (!settle())
            return this.store.updateLimit(k, (e) => ({ next: e, result: stateOf(e, limits) }));
          return this.store.updateLimit(k, (e) => {
            if (e?.generation === generation) return { next: e, result: stateOf(e, limits) };
            // A success (or an expiry) cleared the key meanwhile: this failure comes after it.
            const next = counted(inForce(e, limits, now, unlockedAt), limits, now);
            return { next, result: stateOf(next, limits) };
          });
        },
        succeed: async () => {
          if (settle()) await this.store.updateLimit(k, () => ({ next: null, result: undefined }));
        },
        release: async () => {
          if (!settle()) return;
          // Best effort: when the store fails, the attempt stays counted (the safe direction).
          await this.store
            .updateLimit(k, (e) => {
              if (!e || e.generation !== generation) return { next: e, result: undefined };
              const failures = e.failures - 1;
              const lockedAt =
                e.lockedAt !== null && failures < limits.maxAttempts ? null : e.lockedAt;
              return {
                next: failures > 0 ? { ...e, failures, lockedAt } : null,
                result: undefined,
              };
            })
            .catch(() => undefined);
        },
      },
    };
  }

  /** Forgets old unlocked counters, at most once a minute per process. */
  private prune(): void {
    const now = this.clock();
    if (now - this.lastPrune < PRUNE_EVERY_MS) return;
    this.lastPrune = now;
    void this.store.pruneLimits(now - PRUNE_AFTER_MS).catch(() => undefined);
  }
}
