/**
 * The login engine: reads the cache, applies decideBegin / verifyAttempt under a per-user lock,
 * writes counters and the event durably, and only then returns the reply for the helper.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../protocol/io/log.js';
import type { LocalReply, LoginEvent } from '../../protocol/messages.js';
import type { Cache, Counters } from '../store/cache.js';
import { decideBegin, lockState, type Decision } from './decide.js';
import { KeyedSerializer } from './serialize.js';
import { verifyAttempt } from './verify.js';

export interface LoginContext {
  user: string;
  service: string;
  rhost?: string | undefined;
  tty?: string | undefined;
}

export interface EngineDeps {
  cache: Cache;
  now: () => number;
  /** True while the live sync is up (then the cache is current by definition). */
  connected: () => boolean;
  log: Logger;
  /** Called after an event was queued (the sync uploads it when online). */
  onEvent?: () => void;
  newId?: () => string;
}

export class LoginEngine {
  readonly #serial = new KeyedSerializer();
  readonly #newId: () => string;

  constructor(private readonly deps: EngineDeps) {
    this.#newId = deps.newId ?? randomUUID;
  }

  /** skip / prompt / deny for a login that starts. */
  begin(ctx: LoginContext): Promise<LocalReply> {
    return this.#serial.run(ctx.user, async () => {
      const { decision } = await this.#gate(ctx);
      await this.#record(ctx, decision, null);
      return decision.reply;
    });
  }

  /** ok / invalid / locked (or deny / skip when the situation changed since `begin`). */
  verify(ctx: LoginContext, code: string): Promise<LocalReply> {
    return this.#serial.run(ctx.user, async () => {
      const { decision, now, record, counters, policy } = await this.#gate(ctx);
      if ((decision.outcome !== 'prompt' && decision.outcome !== 'locked') || !record || !policy) {
        await this.#record(ctx, decision, null);
        return decision.reply;
      }
      const result = verifyAttempt({ now, policy, user: record, counters, code });
      await this.#record(ctx, result, result.counters);
      return result.reply;
    });
  }

  /** Local break-glass unlock: clears the lockout and the failure count, keeps the replay guard. */
  unlock(user: string): Promise<{ wasLocked: boolean }> {
    return this.#serial.run(user, async () => {
      const now = this.deps.now();
      const record = await this.deps.cache.getUser(user);
      const counters = await this.deps.cache.getCounters(user);
      const wasLocked = lockState(counters, record?.unlockedAt ?? null, now).locked;
      const cleared: Counters = {
        failures: 0,
        lastFailureAt: null,
        lockedAt: null,
        lockedUntil: null,
        lastStep: counters.lastStep,
      };
      await this.#record(
        { user, service: 'idv-agent' },
        { reply: { type: 'unlocked', user, wasLocked }, outcome: 'unlock', reason: 'local' },
        cleared,
      );
      this.deps.log.info({ user, wasLocked }, 'local unlock');
      return { wasLocked };
    });
  }

  /** Names of the users locked out right now. */
  async lockedUsers(): Promise<string[]> {
    const now = this.deps.now();
    const rows = await this.deps.cache.countersWithUsers();
    return rows.filter((r) => lockState(r.counters, r.unlockedAt, now).locked).map((r) => r.name);
  }

  async #gate(ctx: LoginContext) {
    const now = this.deps.now();
    const state = this.deps.cache.state;
    const record = await this.deps.cache.getUser(ctx.user);
    const counters = await this.deps.cache.getCounters(ctx.user);
    const decision = decideBegin({
      now,
      state,
      connected: this.deps.connected(),
      user: ctx.user,
      service: ctx.service,
      record,
      counters,
    });
    return { decision, now, record, counters, policy: state.policy };
  }

  async #record(ctx: LoginContext, d: Decision, counters: Counters | null): Promise<void> {
    const event: LoginEvent = {
      id: this.#newId(),
      at: this.deps.now(),
      user: ctx.user,
      service: ctx.service,
      outcome: d.outcome,
      ...(ctx.rhost !== undefined ? { rhost: ctx.rhost } : {}),
      ...(ctx.tty !== undefined ? { tty: ctx.tty } : {}),
      ...(d.reason !== undefined ? { reason: d.reason } : {}),
    };
    await this.deps.cache.recordDecision(ctx.user, counters, event);
    if (d.outcome === 'failopen')
      this.deps.log.warn({ user: ctx.user, reason: d.reason }, 'login allowed by failMode=safe');
    this.deps.onEvent?.();
  }
}
