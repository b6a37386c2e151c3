/** What the portal keeps per user: the enrollment link, recovery codes, the role. */
import { IdvError } from '../../protocol/errors.js';
import { recoveryCodeId } from '../../protocol/recovery.js';
import { bump } from './changelog.js';
import { parseJson, REVISION_TX, type StoreCore } from './core.js';
import { hashesEqual } from './crypto.js';
import type { UserRole, UserState } from './store.js';
import { userFrom, userRow, userState } from './users.js';

interface EnrollRow {
  hash: string;
  user: string;
  expires_at: number;
}

export async function findEnrollment(
  core: StoreCore,
  tokenHash: string,
  now: number,
): Promise<{ user: string; expiresAt: number } | null> {
  const row = await core.db.get<EnrollRow>(
    'SELECT hash, "user", expires_at FROM enroll_tokens WHERE hash = ?',
    [tokenHash],
  );
  if (!row || !hashesEqual(row.hash, tokenHash) || row.expires_at <= now) return null;
  return { user: row.user, expiresAt: row.expires_at };
}

export function consumeEnrollment(
  core: StoreCore,
  tokenHash: string,
  now: number,
): Promise<{ user: string; expiresAt: number } | null> {
  return core.db.transaction(
    async (tx) => {
      const row = await tx.get<EnrollRow>(
        'SELECT hash, "user", expires_at FROM enroll_tokens WHERE hash = ?',
        [tokenHash],
      );
      if (!row || !hashesEqual(row.hash, tokenHash)) return null;
      await tx.run('DELETE FROM enroll_tokens WHERE hash = ?', [tokenHash]);
      if (row.expires_at <= now) return null;
      return { user: row.user, expiresAt: row.expires_at };
    },
    { serialize: ['enroll_tokens'] },
  );
}

export async function setRecoveryCodes(
  core: StoreCore,
  name: string,
  hashes: string[],
  at: number,
): Promise<UserState> {
  const ids = hashes.map((h) => recoveryCodeId(h));
  if (ids.some((id) => id === null) || new Set(ids).size !== ids.length)
    throw new IdvError('VALIDATION_FAILED', 'recoveryCodes: not distinct recovery-code hashes');
  return core.db.transaction(async (tx) => {
    const row = await userRow(tx, name);
    if (!row) throw new IdvError('USER_NOT_FOUND', `no user ${name}`);
    await tx.run('DELETE FROM recovery_codes WHERE "user" = ?', [name]);
    for (const [i, hash] of hashes.entries()) {
      await tx.run(
        'INSERT INTO recovery_codes ("user", id, hash, created_at) VALUES (?, ?, ?, ?)',
        [name, ids[i], hash, at],
      );
    }
    const groups = parseJson<string[]>(row.groups);
    await bump(core, tx, { kind: 'user', subject: name, before: groups, after: groups }, at);
    return userFrom(core, tx, row);
  }, REVISION_TX);
}

export function useRecoveryCode(
  core: StoreCore,
  name: string,
  id: string,
  at: number,
): Promise<boolean> {
  return core.db.transaction(async (tx) => {
    const row = await userRow(tx, name);
    if (!row) return false;
    const r = await tx.run('DELETE FROM recovery_codes WHERE "user" = ? AND id = ?', [name, id]);
    if (r.changes !== 1) return false;
    const groups = parseJson<string[]>(row.groups);
    await bump(core, tx, { kind: 'user', subject: name, before: groups, after: groups }, at);
    return true;
  }, REVISION_TX);
}

/** The role is not part of what devices see: no revision. */
export function setRole(core: StoreCore, name: string, role: UserRole): Promise<UserState> {
  return core.db.transaction(async (tx) => {
    const r = await tx.run('UPDATE users SET role = ? WHERE name = ?', [role, name]);
    if (r.changes !== 1) throw new IdvError('USER_NOT_FOUND', `no user ${name}`);
    return (await userState(core, tx, name)) as UserState;
  });
}
