/**
 * The agent's own disk full (or read-only): a login whose decision cannot be written is refused
 * (its counters and event must be durable before the answer), and its event cannot be written
 * either. So the refusals are kept here, in memory (no new space needed), per user, shown in
 * `status`, and written as one `deny` event per user ("N logins refused while the disk was full")
 * with the first write that succeeds again.
 */
import { randomUUID } from 'node:crypto';
import { IdvError } from '../../protocol/errors.js';
import type { LoginEvent } from '../../protocol/messages.js';

/** What `status` shows while logins are refused for lack of space. */
export interface DiskFull {
  /** The first refusal (epoch ms). */
  since: number;
  /** Logins refused since then, not recorded yet. */
  refused: number;
  /** SQLite's word for it: SQLITE_FULL, SQLITE_READONLY, ... */
  cause: string;
}

/** At most this many users are remembered one by one; the rest are counted under the last. */
const MAX_USERS = 100;

/** The SQLite or system code when `err` means no space (or a read-only disk), else null. */
export function noSpace(err: unknown): string | null {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return null;
  return /^(SQLITE_FULL|SQLITE_READONLY\w*|ENOSPC|EROFS|EDQUOT)$/.test(code) ? code : null;
}

/** The error for a write that failed for lack of space (a login refused, by default). */
export function diskFullError(
  cause: string,
  path: string,
  consequence = 'the agent cannot record logins, so it refuses them',
): IdvError {
  const state = /READONLY|EROFS/.test(cause) ? 'read-only' : 'full';
  return new IdvError(
    'DISK_FULL',
    `this machine's disk is ${state} (${path}): ${consequence} (${cause})`,
  );
}

export class RefusedWhileFull {
  #state: DiskFull | null = null;
  #users = new Map<string, { event: LoginEvent; count: number }>();

  get state(): DiskFull | null {
    return this.#state;
  }

  /** A login's decision could not be written (`cause`, from noSpace). */
  refused(event: LoginEvent, cause: string): void {
    this.#state = {
      since: this.#state?.since ?? event.at,
      refused: (this.#state?.refused ?? 0) + 1,
      cause,
    };
    const seen = this.#users.get(event.user);
    const last = [...this.#users.values()].at(-1);
    if (seen) seen.count++;
    else if (this.#users.size < MAX_USERS) this.#users.set(event.user, { event, count: 1 });
    else if (last) last.count++;
  }

  /** The events that report the refusals, one per user; empty when there were none. */
  summary(at: number): LoginEvent[] {
    return [...this.#users.values()].map(({ event, count }) => ({
      id: randomUUID(),
      at,
      user: event.user,
      service: event.service,
      outcome: 'deny',
      ...(event.rhost !== undefined ? { rhost: event.rhost } : {}),
      ...(event.tty !== undefined ? { tty: event.tty } : {}),
      reason: `${count} login${count === 1 ? '' : 's'} refused while the disk was full`,
    }));
  }

  /** The summary event of `user` was written; once every user's is, the state clears. */
  reported(user: string): void {
    this.#users.delete(user);
    if (this.#users.size === 0) this.#state = null;
  }
}
