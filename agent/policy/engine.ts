/**
 * The login engine: reads the cache, applies decideBegin / verifyAttempt under a per-user lock,
 * writes counters and the event durably, and only then returns the reply for the helper.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Logger } from '../../protocol/io/log.js';
import type { LocalReply, LoginEvent } from '../../protocol/messages.js';
import type { Policy } from '../../protocol/policy.js';
import { recoveryCodeId } from '../../protocol/recovery.js';
import type { Cache, CachedUser, Counters, UsedRecovery } from '../store/cache.js';
import type { FailpointName } from '../store/failpoint.js';
import { HELPDESK_CODE_RE } from '../../protocol/helpdesk.js';
import { helpdeskCodeHash, type UsedHelpdesk } from '../store/helpdesk.js';
import { decideBegin, lockState, type Decision } from './decide.js';
import { helpdeskBegin, verifyHelpdesk } from './helpdesk.js';
import { matchName } from './names.js';
import { boundedRecoveryVerifier } from './recovery.js';
import { KeyedSerializer } from './serialize.js';
import {
  verifyAttempt,
  wantsRecoveryCheck,
  type RecoveryMatch,
  type RecoveryVerifier,
} from './verify.js';

export interface LoginContext {
  user: string;
  service: string;
  rhost?: string | undefined;
  tty?: string | undefined;
}

/** What a local unlock did: `known` false when the cache has no such user (nothing changed). */
export interface UnlockResult {
  known: boolean;
  wasLocked: boolean;
  /** Failed attempts counted toward the lockout before the unlock (now cleared). */
  failures: number;
  /** The account lock (issue 14) still holds: a local unlock does not lift it. */
  accountLocked?: boolean;
}

/** The answer to an unlock of a name the cache does not know. */
export const unknownUserMessage = (user: string) =>
  `${user} is not a user idv knows on this machine (not in the cache): nothing to unlock`;

export interface EngineDeps {
  cache: Cache;
  now: () => number;
  /** True while the live sync is up (then the cache is current by definition). */
  connected: () => boolean;
  log: Logger;
  /**
   * Called after an event was queued (the sync uploads it when online); `urgent` for the result
   * of a code check, which the server needs at once (fleet-wide replay guard, account budget).
   */
  onEvent?: (urgent: boolean) => void;
  newId?: () => string;
  /** Checks recovery codes (default: scrypt with at most 2 hashes at a time, agent-wide). */
  recovery?: RecoveryVerifier;
  /**
   * The clock behind `now` (agent/clock/trusted.ts). Without a server time since boot, a code off
   * the window may teach the skew (./skew.ts); absent: never.
   */
  clock?: SkewClock;
}

/** What the engine needs of the trusted clock. */
export interface SkewClock {
  readonly source: 'server' | 'local' | 'learned';
  learn(correctionMs: number): Promise<void>;
}

/** A remembered success (rememberSeconds): when, and what it was decided under. */
interface Remembered {
  at: number;
  /** Digest of the policy and the user's record then: any change (policy, reset) forgets it. */
  basis: string;
}

export class LoginEngine {
  readonly #serial = new KeyedSerializer();
  /**
   * Recent accepted codes by user, then service. In memory only: an agent restart forgets them,
   * which only asks for a code again.
   */
  readonly #remembered = new Map<string, Map<string, Remembered>>();
  readonly #newId: () => string;
  readonly #recovery: RecoveryVerifier;

  constructor(private readonly deps: EngineDeps) {
    this.#newId = deps.newId ?? randomUUID;
    this.#recovery = deps.recovery ?? boundedRecoveryVerifier();
  }

  /**
   * The login with its name resolved to the cached user it is (agent/policy/names.ts): counters,
   * the per-user lock and the event all go by that one name.
   */
  #resolve(typed: LoginContext): { ctx: LoginContext; ambiguous: boolean } {
    const match = matchName(typed.user, this.deps.cache.names);
    if (match.kind === 'folded') {
      this.deps.log.info(
        { user: match.name, typed: typed.user },
        'login name matched in another case',
      );
    }
    const user = match.kind === 'exact' || match.kind === 'folded' ? match.name : typed.user;
    return { ctx: { ...typed, user }, ambiguous: match.kind === 'ambiguous' };
  }

  /** skip / prompt / deny for a login that starts. */
  begin(typed: LoginContext): Promise<LocalReply> {
    const { ctx, ambiguous } = this.#resolve(typed);
    return this.#serial.run(ctx.user, async () => {
      const gate = await this.#gate(ctx, ambiguous, typed.user, true);
      const decision = await this.#helpdeskBegin(gate);
      await this.#record(ctx, decision, null);
      return decision.reply;
    });
  }

  /** ok / invalid / locked (or deny / skip when the situation changed since `begin`). */
  verify(typed: LoginContext, code: string): Promise<LocalReply> {
    const { ctx, ambiguous } = this.#resolve(typed);
    return this.#serial.run(ctx.user, async () => {
      const { decision, now, record, counters, policy } = await this.#gate(
        ctx,
        ambiguous,
        typed.user,
        false,
      );
      if ((decision.outcome !== 'prompt' && decision.outcome !== 'locked') || !record || !policy) {
        await this.#record(ctx, decision, null);
        return decision.reply;
      }
      if (HELPDESK_CODE_RE.test(code))
        return this.#verifyHelpdesk(ctx, { now, policy, user: record, counters, code });
      // The slow hash check runs under this user's lock (a second login with the same code waits
      // and then finds it used), but off the event loop: other users' logins go on meanwhile.
      const recovery = wantsRecoveryCheck(record, counters, code, now)
        ? await this.#matchRecovery(ctx.user, record.recoveryCodes, code)
        : null;
      const wide = this.deps.clock !== undefined && this.deps.clock.source !== 'server';
      const result = verifyAttempt({ now, policy, user: record, counters, code, recovery, wide });
      const used: UsedRecovery | undefined =
        result.recoveryCodeId !== undefined
          ? { codeId: result.recoveryCodeId, at: this.deps.now() }
          : undefined;
      await this.#record(ctx, result, result.counters, used, 'verify');
      if (used) this.deps.log.info({ user: ctx.user }, 'recovery code accepted');
      if (result.clockCorrectionMs !== undefined)
        await this.#learn(ctx.user, result.clockCorrectionMs);
      if (
        result.outcome === 'ok' &&
        (result.reason === undefined ||
          result.reason === 'self-unlock' ||
          result.reason === 'clock-skew')
      )
        this.#remember(ctx, policy, record, now);
      else if (result.outcome !== 'ok') this.#remembered.delete(ctx.user);
      return result.reply;
    });
  }

  /**
   * A login that ended at the prompt without a final answer (the helper timed out, the person
   * pressed Ctrl-C, the connection dropped): its outcome event, so the admin sees how it ended.
   * Counters are untouched: no code was refused.
   */
  abandon(ctx: LoginContext): Promise<void> {
    return this.#serial.run(ctx.user, () =>
      this.#record(
        ctx,
        { reply: { type: 'deny', message: '' }, outcome: 'deny', reason: 'abandoned' },
        null,
      ),
    );
  }

  /**
   * Local break-glass unlock: clears the lockout and the failure count, keeps the replay guard.
   * A name the cache has neither a user nor counters for changes nothing (`known: false`).
   */
  unlock(user: string): Promise<UnlockResult> {
    return this.#serial.run(user, async () => {
      const now = this.deps.now();
      const record = await this.deps.cache.getUser(user);
      const counters = await this.deps.cache.getCounters(user);
      const state = lockState(counters, record?.unlockedAt ?? null, now);
      const wasLocked = state.locked;
      const failures = state.counters.failures;
      if (!record && !wasLocked && failures === 0) return { known: false, wasLocked, failures };
      const cleared: Counters = {
        failures: 0,
        lastFailureAt: null,
        lockedAt: null,
        lockedUntil: null,
        lastStep: counters.lastStep,
        unlockStep: null,
        skewStep: null,
        skewOffset: null,
      };
      this.#remembered.delete(user);
      await this.#record(
        { user, service: 'idv-agent' },
        {
          reply: { type: 'unlocked', user, wasLocked, failures },
          outcome: 'unlock',
          reason: 'local',
        },
        cleared,
      );
      this.deps.log.info({ user, wasLocked, failures }, 'local unlock');
      const accountLocked = record !== null && record.accountLockedAt !== null;
      return { known: true, wasLocked, failures, ...(accountLocked ? { accountLocked } : {}) };
    });
  }

  /** begin's decision, turned into a prompt when only a helpdesk code can let the login in. */
  async #helpdeskBegin(gate: {
    decision: Decision;
    now: number;
    record: CachedUser | null;
    counters: Counters;
    policy: Policy | null;
  }): Promise<Decision> {
    const { decision, record, policy } = gate;
    if (decision.outcome !== 'locked' || decision.reply.type !== 'deny') return decision;
    const hasKey = (await this.deps.cache.helpdeskKey()) !== null;
    return helpdeskBegin(decision, { ...gate, user: record, policy, hasKey });
  }

  /** A helpdesk-shaped code (agent/policy/helpdesk.ts): checked, recorded with its use. */
  async #verifyHelpdesk(
    ctx: LoginContext,
    input: Omit<Parameters<typeof verifyHelpdesk>[0], 'key' | 'used'>,
  ): Promise<LocalReply> {
    const codeHash = helpdeskCodeHash(input.code);
    const key = await this.deps.cache.helpdeskKey();
    const used = await this.deps.cache.helpdeskUsed(ctx.user, codeHash);
    const result = verifyHelpdesk({ ...input, key, used });
    const record =
      result.helpdeskExpiresAt !== undefined
        ? { codeHash, expiresAt: result.helpdeskExpiresAt, at: input.now }
        : undefined;
    await this.#record(ctx, result, result.counters, record, 'verify');
    if (record) this.deps.log.info({ user: ctx.user }, 'helpdesk code accepted');
    // Never remembered (rememberSeconds): any other outcome forgets what was.
    this.#remembered.delete(ctx.user);
    return result.reply;
  }

  /** Names of the users locked out right now. */
  async lockedUsers(): Promise<string[]> {
    const now = this.deps.now();
    const rows = await this.deps.cache.countersWithUsers();
    const here = rows.filter((r) => lockState(r.counters, r.unlockedAt, now).locked);
    const names = new Set([...here.map((r) => r.name), ...this.deps.cache.accountLockedNames()]);
    return [...names].sort();
  }

  /** Two consecutive codes showed the clock's error: decide by the corrected time from now on. */
  async #learn(user: string, correctionMs: number): Promise<void> {
    try {
      await this.deps.clock?.learn(correctionMs);
      this.deps.log.warn(
        { user, correctionSeconds: Math.round(correctionMs / 1000) },
        'local clock off: offset learned from two consecutive codes, used until the next sync',
      );
    } catch (err) {
      // The login stands (its counters are written); the next one asks for two codes again.
      this.deps.log.error({ err: (err as Error).message }, 'cannot save the learned clock offset');
    }
  }

  #remember(ctx: LoginContext, policy: Policy, record: CachedUser, now: number): void {
    if (policy.rememberSeconds === 0) return;
    let byService = this.#remembered.get(ctx.user);
    if (!byService) this.#remembered.set(ctx.user, (byService = new Map()));
    byService.set(ctx.service, { at: now, basis: basisOf(policy, record) });
  }

  /** A success remembered for this user and service, still in time and on the same basis. */
  #isRemembered(ctx: LoginContext, policy: Policy | null, record: CachedUser | null, now: number) {
    const r = this.#remembered.get(ctx.user)?.get(ctx.service);
    if (!r || !policy || !record || policy.rememberSeconds === 0) return false;
    // A clock set back before the success says nothing about its age: forget it.
    const fresh = now >= r.at && now - r.at < policy.rememberSeconds * 1000;
    if (fresh && r.basis === basisOf(policy, record)) return true;
    this.#remembered.get(ctx.user)?.delete(ctx.service);
    return false;
  }

  async #matchRecovery(
    user: string,
    hashes: readonly string[],
    code: string,
  ): Promise<RecoveryMatch | null> {
    const i = await this.#recovery(hashes, code);
    const hash = i === null ? undefined : hashes[i];
    const codeId = hash === undefined ? null : recoveryCodeId(hash);
    if (codeId === null) return null;
    // A sync may have landed during the check (codes regenerated, MFA reset, suspended): accept
    // only a code the cache still holds for a user who may still use it.
    const fresh = await this.deps.cache.getUser(user);
    if (!fresh || fresh.totp === null || fresh.status !== 'active') return null;
    const ids = fresh.recoveryCodes.flatMap((h) => recoveryCodeId(h) ?? []);
    if (!ids.includes(codeId)) return null;
    return { codeId, left: ids.length - 1 };
  }

  /**
   * `ctx.user` is the resolved name; exemption is checked on the name as typed (exact). A
   * remembered success counts at `begin` only: a login already at the prompt goes on with its code.
   */
  async #gate(ctx: LoginContext, ambiguousName: boolean, typed: string, atBegin: boolean) {
    const now = this.deps.now();
    const state = this.deps.cache.state;
    const record = ambiguousName ? null : await this.deps.cache.getUser(ctx.user);
    const counters = await this.deps.cache.getCounters(ctx.user);
    const decision = decideBegin({
      now,
      state,
      connected: this.deps.connected(),
      revoked: this.deps.cache.revoked,
      user: typed,
      service: ctx.service,
      rhost: ctx.rhost,
      tty: ctx.tty,
      remembered: atBegin && this.#isRemembered(ctx, state.policy, record, now),
      record,
      counters,
      ambiguousName,
    });
    return { decision, now, record, counters, policy: state.policy };
  }

  async #record(
    ctx: LoginContext,
    d: Decision & { recoveryCodeId?: string; step?: number },
    counters: Counters | null,
    used?: UsedRecovery | UsedHelpdesk,
    point?: FailpointName,
  ): Promise<void> {
    const event: LoginEvent = {
      id: this.#newId(),
      at: this.deps.now(),
      user: ctx.user,
      service: ctx.service,
      outcome: d.outcome,
      ...(ctx.rhost !== undefined ? { rhost: ctx.rhost } : {}),
      ...(ctx.tty !== undefined ? { tty: ctx.tty } : {}),
      ...(d.reason !== undefined ? { reason: d.reason } : {}),
      ...(d.recoveryCodeId !== undefined ? { recoveryCodeId: d.recoveryCodeId } : {}),
      ...(d.step !== undefined ? { step: d.step } : {}),
    };
    await this.deps.cache.recordDecision(ctx.user, counters, event, used, point);
    if (d.outcome === 'failopen')
      this.deps.log.warn({ user: ctx.user, reason: d.reason }, 'login allowed by failMode=safe');
    this.deps.onEvent?.(point === 'verify');
  }
}

/** What a remembered success depends on: the policy and the user's record (secret, status, ...). */
function basisOf(policy: Policy, record: CachedUser): string {
  return createHash('sha256')
    .update(
      JSON.stringify([
        policy,
        record.totp,
        record.status,
        record.graceStartedAt,
        record.unlockedAt,
      ]),
    )
    .digest('base64url');
}
