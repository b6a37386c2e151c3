/**
 * Registration tokens: created (only the hash is kept), listed (never the token or its hash),
 * revoked, and one use taken by a registration. A used-up or revoked token stays listed until
 * 30 days past its expiry, so an admin sees what happened to it; then the next creation prunes it.
 */
import { randomBytes } from 'node:crypto';
import { IdvError } from '../../protocol/errors.js';
import type { StoreCore } from './core.js';
import { hashesEqual } from './crypto.js';
import type { Queryable } from './db.js';
import type { RegistrationToken, RegistrationTokenInfo } from './store.js';

/** How long a dead (expired) token stays listed. */
export const TOKEN_KEPT_MS = 30 * 86_400_000;

interface TokenRow {
  id: string;
  hash: string;
  device_group: string;
  uses_left: number;
  uses_total: number;
  expires_at: number;
  created_at: number;
  created_by: string;
  revoked_at: number | null;
}

/** Public ids: 16 hex digits, random (not derived from the token or its hash). */
export const TOKEN_ID = /^[0-9a-f]{16}$/;

function toInfo(r: TokenRow): RegistrationTokenInfo {
  return {
    id: r.id,
    deviceGroup: r.device_group,
    uses: Number(r.uses_total),
    usesLeft: Number(r.uses_left),
    expiresAt: Number(r.expires_at),
    createdAt: Number(r.created_at),
    createdBy: r.created_by,
    revokedAt: r.revoked_at === null ? null : Number(r.revoked_at),
  };
}

const COLUMNS =
  'id, hash, device_group, uses_left, uses_total, expires_at, created_at, created_by, revoked_at';

export async function addRegistrationToken(
  core: StoreCore,
  hash: string,
  token: RegistrationToken,
  at: number,
): Promise<RegistrationTokenInfo> {
  const id = randomBytes(8).toString('hex');
  return core.db.transaction(
    async (tx) => {
      await tx.run('DELETE FROM reg_tokens WHERE expires_at < ?', [at - TOKEN_KEPT_MS]);
      await tx.run(`INSERT INTO reg_tokens (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)`, [
        id,
        hash,
        token.deviceGroup,
        token.uses,
        token.uses,
        token.expiresAt,
        at,
        token.createdBy ?? '',
      ]);
      return toInfo((await tokenRow(tx, id)) as TokenRow);
    },
    { serialize: ['reg_tokens'] },
  );
}

async function tokenRow(q: Queryable, id: string): Promise<TokenRow | undefined> {
  return q.get<TokenRow>(`SELECT ${COLUMNS} FROM reg_tokens WHERE id = ?`, [id]);
}

export async function listRegistrationTokens(core: StoreCore): Promise<RegistrationTokenInfo[]> {
  const rows = await core.db.all<TokenRow>(
    `SELECT ${COLUMNS} FROM reg_tokens ORDER BY created_at DESC, id`,
  );
  return rows.map(toInfo);
}

/** Revokes the token (no registration may use it after); revoking it again changes nothing. */
export function revokeRegistrationToken(
  core: StoreCore,
  id: string,
  at: number,
): Promise<RegistrationTokenInfo> {
  return core.db.transaction(
    async (tx) => {
      const row = await tokenRow(tx, id);
      if (!row) throw new IdvError('NOT_FOUND', `no registration token ${id}`);
      if (row.revoked_at === null)
        await tx.run('UPDATE reg_tokens SET revoked_at = ? WHERE id = ?', [at, id]);
      return toInfo((await tokenRow(tx, id)) as TokenRow);
    },
    { serialize: ['reg_tokens'] },
  );
}

/**
 * One use of the token, inside the registration's transaction: its device group, or
 * TOKEN_INVALID (unknown, used up, expired, revoked — the same answer for each).
 */
export async function takeTokenUse(q: Queryable, tokenHash: string, at: number): Promise<string> {
  const token = await q.get<TokenRow>(`SELECT ${COLUMNS} FROM reg_tokens WHERE hash = ?`, [
    tokenHash,
  ]);
  if (
    !token ||
    !hashesEqual(token.hash, tokenHash) ||
    Number(token.uses_left) < 1 ||
    Number(token.expires_at) <= at ||
    token.revoked_at !== null
  ) {
    throw new IdvError('TOKEN_INVALID');
  }
  await q.run('UPDATE reg_tokens SET uses_left = uses_left - 1 WHERE hash = ?', [tokenHash]);
  return token.device_group;
}
