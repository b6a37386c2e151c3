/**
 * Space for logins on a full disk. Every login writes (its counters and its event, durably,
 * before the answer), and SQLite writes first to the write-ahead log, which by default grows to
 * ~4 MB before its first checkpoint: on a nearly full disk every login then failed until space
 * appeared. So the cache keeps, while it can (at open and after each applied update):
 *
 *   - RESERVE_PAGES free pages inside cache.db (a blob written and deleted: its pages stay in the
 *     file, on SQLite's free list), for the outbox and counters to grow into, and
 *   - a write-ahead log at least as long, which SQLite reuses from its start after each
 *     checkpoint and never truncates: with checkpoints every WAL_AUTOCHECKPOINT_PAGES, a login's
 *     frames always land in space the log already has.
 *
 * A login so needs no new space until the outbox has grown by RESERVE_PAGES (~1,000 events
 * waiting for upload). The cost: ~0.5 MB in cache.db and ~0.5 MB of log, less than the 4 MB
 * log SQLite grew to by default.
 */
import type { Database } from '../../protocol/io/sqlite.js';

/** Free pages kept in cache.db (512 KiB with SQLite's 4 KiB pages). */
export const RESERVE_PAGES = 128;
/** Checkpoint when the log holds this many pages: well within the log the reserve leaves. */
export const WAL_AUTOCHECKPOINT_PAGES = 64;

export async function configureLog(db: Database): Promise<void> {
  await db.exec(`PRAGMA wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
}

/**
 * Writes the reserve blob and deletes it again, then checkpoints: the free pages are topped up
 * to RESERVE_PAGES and the log is at least that long. `always`: at open, where the log is new
 * (SQLite deletes it at close); otherwise only when under half of the free pages are left. Needs
 * space itself: on a full disk it fails (the caller ignores that) and what is left stays usable.
 */
export async function keepReserve(db: Database, always: boolean): Promise<void> {
  const free = await db.get<{ freelist_count: number }>('PRAGMA freelist_count');
  if (always || (free?.freelist_count ?? 0) < RESERVE_PAGES / 2) {
    const size = await db.get<{ page_size: number }>('PRAGMA page_size');
    await db.run('INSERT INTO reserve (b) VALUES (zeroblob(?))', [
      RESERVE_PAGES * (size?.page_size ?? 4096),
    ]);
    await db.run('DELETE FROM reserve');
  }
  await db.get('PRAGMA wal_checkpoint(PASSIVE)');
}
