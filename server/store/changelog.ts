/**
 * The global revision and the change log: one entry per revision, gap-free and in commit order
 * (the transaction holds the `changes` lock: PostgreSQL writers wait for each other there rather
 * than retry), pruned to the retention every hundred revisions.
 */
import type { Change } from './store.js';
import { announce, type StoreCore } from './core.js';
import type { Queryable, Tx } from './db.js';

export async function currentRevision(q: Queryable): Promise<number> {
  const row = await q.get<{ value: number }>(`SELECT value FROM meta WHERE key = 'revision'`);
  return row?.value ?? 0;
}

/** Takes the next revision for `change`, in the caller's transaction (opened with REVISION_TX). */
export async function bump(
  core: StoreCore,
  tx: Tx,
  change: Omit<Change, 'revision'>,
  at: number,
): Promise<number> {
  if (!tx.serializes('changes'))
    throw new Error('a transaction that bumps the revision must be opened with REVISION_TX');
  const row = await tx.get<{ value: number }>(
    `UPDATE meta SET value = value + 1 WHERE key = 'revision' RETURNING value`,
  );
  const revision = row?.value as number;
  await tx.run(
    'INSERT INTO changes (revision, kind, subject, before, after, at) VALUES (?, ?, ?, ?, ?, ?)',
    [
      revision,
      change.kind,
      change.subject,
      change.before ? JSON.stringify(change.before) : null,
      change.after ? JSON.stringify(change.after) : null,
      at,
    ],
  );
  if (revision % 100 === 0) {
    await tx.run('DELETE FROM changes WHERE revision <= ?', [revision - core.retention]);
  }
  await announce(core, tx, { kind: 'revision', revision });
  return revision;
}
