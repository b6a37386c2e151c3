/**
 * Login events. Inserts hold the `events` lock, so seq order is commit order on both backends: a
 * follower reading `afterSeq` never skips a row that commits later with a smaller seq.
 */
import type { LoginEvent } from '../../protocol/messages.js';
import { applyAccountItems } from './account.js';
import { bump } from './changelog.js';
import { announce, EVENTS_TX, REVISION_TX, type StoreCore } from './core.js';
import { eventFromRow, type EventRow } from './event-row.js';
import type { AccountItem, AccountResult, EventQuery, StoredEvent } from './store.js';

export function addEvents(
  core: StoreCore,
  deviceId: string,
  events: LoginEvent[],
  at: number,
  options: { afterRevocation?: boolean } = {},
): Promise<StoredEvent[]> {
  const flag = options.afterRevocation ? ({ afterRevocation: true } as const) : {};
  if (events.length === 0) return Promise.resolve([]);
  return core.db.transaction(async (tx) => {
    const stored: StoredEvent[] = [];
    for (const e of events) {
      const r = await tx.get<{ seq: number }>(
        `INSERT INTO events (id, device_id, at, "user", service, outcome, rhost, tty, reason, recovery_code_id, received_at, after_revocation)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (device_id, id) DO NOTHING RETURNING seq`,
        [
          e.id,
          deviceId,
          e.at,
          e.user,
          e.service,
          e.outcome,
          e.rhost ?? null,
          e.tty ?? null,
          e.reason ?? null,
          e.recoveryCodeId ?? null,
          at,
          options.afterRevocation ? 1 : 0,
        ],
      );
      if (r) stored.push({ ...e, device: deviceId, receivedAt: at, seq: r.seq, ...flag });
    }
    const last = stored.at(-1);
    if (last) await announce(core, tx, { kind: 'events', seq: last.seq });
    return stored;
  }, EVENTS_TX);
}

/** The account rules for events already stored (account.ts); bumps what devices must see. */
export async function applyAccount(
  core: StoreCore,
  deviceId: string,
  items: readonly AccountItem[],
  at: number,
): Promise<AccountResult> {
  if (items.length === 0) return { changed: false, locked: [] };
  return core.db.transaction(
    (tx) => applyAccountItems(tx, deviceId, items, at, (_t, c, a) => bump(core, tx, c, a)),
    REVISION_TX,
  );
}

export async function queryEvents(core: StoreCore, q: EventQuery): Promise<StoredEvent[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  const when = (cond: string, value: unknown) => {
    where.push(cond);
    params.push(value);
  };
  if (q.user !== undefined) when('"user" = ?', q.user);
  if (q.device !== undefined) when('device_id = ?', q.device);
  if (q.since !== undefined) when('at >= ?', q.since);
  if (q.until !== undefined) when('at < ?', q.until);
  if (q.afterSeq !== undefined) when('seq > ?', q.afterSeq);
  if (q.beforeSeq !== undefined) when('seq < ?', q.beforeSeq);
  // Latest `limit` events, returned oldest first.
  const rows = await core.db.all<EventRow>(
    `SELECT * FROM (SELECT * FROM events ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY seq DESC LIMIT ?) AS e ORDER BY seq`,
    [...params, q.limit],
  );
  return rows.map(eventFromRow);
}
