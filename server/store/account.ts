/**
 * The account guarantees in the store (issue 14): the fleet-wide replay guard and the account's
 * attempt budget, kept on the user's row (`last_step`, `account_failures`, `account_locked_at`).
 * Portable SQL only (the same statements run on SQLite and PostgreSQL).
 *
 * Exactly once: an item is applied only if it flips its event's `account_counted` from 0 to 1
 * in the same transaction, so a batch resent after a lost ack (or a server killed between
 * storing the events and counting them) counts each event once.
 */
import type { Queryable } from './db.js';
import type { AccountItem, AccountResult, Change } from './store.js';

type Bump = (tx: Queryable, change: Omit<Change, 'revision'>, at: number) => Promise<number>;

interface AccountRow {
  groups: string;
  last_step: number | null;
  account_failures: number;
  account_locked_at: number | null;
}

export async function applyAccountItems(
  tx: Queryable,
  deviceId: string,
  items: readonly AccountItem[],
  at: number,
  bump: Bump,
): Promise<AccountResult> {
  const visible = new Map<string, string[]>();
  const locked: AccountResult['locked'] = [];
  for (const item of items) {
    const mark = await tx.run(
      'UPDATE events SET account_counted = 1 WHERE device_id = ? AND id = ? AND account_counted = 0',
      [deviceId, item.eventId],
    );
    if (mark.changes !== 1) continue;
    const row = await tx.get<AccountRow>(
      'SELECT groups, last_step, account_failures, account_locked_at FROM users WHERE name = ?',
      [item.user],
    );
    if (!row) continue;
    if (item.kind === 'success') {
      const raise =
        item.step !== undefined && (row.last_step === null || item.step > row.last_step);
      await tx.run('UPDATE users SET account_failures = 0, last_step = ? WHERE name = ?', [
        raise ? item.step : row.last_step,
        item.user,
      ]);
      // While locked, devices hold the count (the helpdesk cap): a restart is pushed too.
      if (raise || (row.account_locked_at !== null && row.account_failures !== 0))
        visible.set(item.user, JSON.parse(row.groups) as string[]);
      continue;
    }
    const failures = row.account_failures + 1;
    const lock = row.account_locked_at === null && failures >= item.maxFailures;
    await tx.run('UPDATE users SET account_failures = ?, account_locked_at = ? WHERE name = ?', [
      failures,
      lock ? at : row.account_locked_at,
      item.user,
    ]);
    if (lock) locked.push({ user: item.user, failures });
    // The lock, and every failure while it holds (only helpdesk codes are checked then): each
    // device learns at once how much of the account-wide helpdesk cap is spent.
    if (lock || row.account_locked_at !== null)
      visible.set(item.user, JSON.parse(row.groups) as string[]);
  }
  for (const [user, groups] of visible) {
    await bump(tx, { kind: 'user', subject: user, before: groups, after: groups }, at);
  }
  return { changed: visible.size > 0, locked };
}

/** An admin unlock (of all devices or one): the account lock and its count go too. */
export const CLEAR_ACCOUNT_LOCK =
  'UPDATE users SET account_failures = 0, account_locked_at = NULL WHERE name = ?';

/** A new secret (or none) starts a new sequence of steps: the old guard would refuse it. */
export const CLEAR_REPLAY_GUARD = 'UPDATE users SET last_step = NULL WHERE name = ?';
