/** Users: rows, their unlocks and recovery codes, and the changes devices see. */
import { IdvError } from '../../protocol/errors.js';
import { GRACE_ENDED, totpParamsSchema, type TotpParams } from '../../protocol/messages.js';
import { CLEAR_ACCOUNT_LOCK, CLEAR_REPLAY_GUARD } from './account.js';
import { bump } from './changelog.js';
import { parseJson, READ_TX, REVISION_TX, type StoreCore } from './core.js';
import type { Queryable } from './db.js';
import type { UserChange, UserState } from './store.js';

export interface UserRow {
  name: string;
  groups: string;
  status: string;
  totp_sealed: string | null;
  pending_sealed: string | null;
  grace_started_at: number;
  unlocked_at: number | null;
  created_at: number;
  enrolled_at: number | null;
  role: string;
  last_step: number | null;
  account_failures: number;
  account_locked_at: number | null;
}

export function openTotp(core: StoreCore, sealed: string, user: string): TotpParams {
  return totpParamsSchema.parse(JSON.parse(core.box.open(sealed, `totp:${user}`)));
}

function sealTotp(core: StoreCore, totp: TotpParams, user: string): string {
  return core.box.seal(JSON.stringify(totp), `totp:${user}`);
}

function toUser(
  core: StoreCore,
  row: UserRow,
  unlocks: { device_id: string; at: number }[],
  recoveryCodes: string[],
): UserState {
  return {
    name: row.name,
    groups: parseJson<string[]>(row.groups),
    status: row.status === 'suspended' ? 'suspended' : 'active',
    totp: row.totp_sealed ? openTotp(core, row.totp_sealed, row.name) : null,
    pending: row.pending_sealed !== null,
    graceStartedAt: row.grace_started_at,
    unlockedAt: row.unlocked_at,
    deviceUnlocks: Object.fromEntries(unlocks.map((u) => [u.device_id, u.at])),
    createdAt: row.created_at,
    enrolledAt: row.enrolled_at,
    role: row.role === 'admin' ? 'admin' : 'user',
    recoveryCodes,
    lastStep: row.last_step,
    accountFailures: row.account_failures,
    accountLockedAt: row.account_locked_at,
  };
}

export function userRow(q: Queryable, name: string): Promise<UserRow | undefined> {
  return q.get<UserRow>('SELECT * FROM users WHERE name = ?', [name]);
}

export async function userFrom(core: StoreCore, q: Queryable, row: UserRow): Promise<UserState> {
  const unlocks = await q.all<{ device_id: string; at: number }>(
    'SELECT device_id, at FROM device_unlocks WHERE "user" = ?',
    [row.name],
  );
  const codes = await q.all<{ hash: string }>(
    'SELECT hash FROM recovery_codes WHERE "user" = ? ORDER BY created_at, id',
    [row.name],
  );
  return toUser(
    core,
    row,
    unlocks,
    codes.map((c) => c.hash),
  );
}

/** The user's current state, or null when absent. */
export async function userState(
  core: StoreCore,
  q: Queryable,
  name: string,
): Promise<UserState | null> {
  const row = await userRow(q, name);
  return row ? userFrom(core, q, row) : null;
}

function groupBy<T extends { user: string }>(rows: T[]): Map<string, T[]> {
  const by = new Map<string, T[]>();
  for (const r of rows) {
    const list = by.get(r.user) ?? [];
    list.push(r);
    by.set(r.user, list);
  }
  return by;
}

export async function allUsers(core: StoreCore, q: Queryable): Promise<UserState[]> {
  const rows = await q.all<UserRow>('SELECT * FROM users ORDER BY name');
  const unlocks = groupBy(
    await q.all<{ user: string; device_id: string; at: number }>(
      'SELECT "user", device_id, at FROM device_unlocks',
    ),
  );
  const codes = groupBy(
    await q.all<{ user: string; hash: string }>(
      'SELECT "user", hash FROM recovery_codes ORDER BY created_at, id',
    ),
  );
  return rows.map((r) =>
    toUser(
      core,
      r,
      unlocks.get(r.name) ?? [],
      (codes.get(r.name) ?? []).map((c) => c.hash),
    ),
  );
}

export function addUser(
  core: StoreCore,
  name: string,
  groups: string[],
  at: number,
): Promise<UserState> {
  return core.db.transaction(async (tx) => {
    if (await userRow(tx, name)) throw new IdvError('USER_EXISTS', `user ${name} already exists`);
    await tx.run(
      `INSERT INTO users (name, groups, status, grace_started_at, created_at) VALUES (?, ?, 'active', ?, ?)`,
      [name, JSON.stringify(groups), at, at],
    );
    await bump(core, tx, { kind: 'user', subject: name, before: null, after: groups }, at);
    return (await userState(core, tx, name)) as UserState;
  }, REVISION_TX);
}

export function getUser(core: StoreCore, name: string): Promise<UserState | null> {
  return core.db.transaction((tx) => userState(core, tx, name), READ_TX);
}

export function listUsers(core: StoreCore): Promise<UserState[]> {
  return core.db.transaction((tx) => allUsers(core, tx), READ_TX);
}

export async function removeUser(core: StoreCore, name: string, at: number): Promise<void> {
  await core.db.transaction(async (tx) => {
    const row = await userRow(tx, name);
    if (!row) throw new IdvError('USER_NOT_FOUND', `no user ${name}`);
    await tx.run('DELETE FROM users WHERE name = ?', [name]);
    const before = parseJson<string[]>(row.groups);
    await bump(core, tx, { kind: 'user', subject: name, before, after: null }, at);
  }, REVISION_TX);
}

export function updateUser(
  core: StoreCore,
  name: string,
  change: UserChange,
  at: number,
): Promise<UserState> {
  return core.db.transaction(async (tx) => {
    const row = await userRow(tx, name);
    if (!row) throw new IdvError('USER_NOT_FOUND', `no user ${name}`);
    const groups = parseJson<string[]>(row.groups);
    let after = groups;
    let visible = true;
    switch (change.kind) {
      case 'status':
        await tx.run('UPDATE users SET status = ? WHERE name = ?', [change.status, name]);
        break;
      case 'groups':
        after = change.groups;
        await tx.run('UPDATE users SET groups = ? WHERE name = ?', [
          JSON.stringify(change.groups),
          name,
        ]);
        break;
      case 'pending':
        visible = false;
        await tx.run('UPDATE users SET pending_sealed = ? WHERE name = ?', [
          sealTotp(core, change.totp, name),
          name,
        ]);
        // One live enrollment link per user: a new one voids the old.
        await tx.run('DELETE FROM enroll_tokens WHERE "user" = ?', [name]);
        await tx.run(
          'INSERT INTO enroll_tokens (hash, "user", expires_at, created_at) VALUES (?, ?, ?, ?)',
          [change.tokenHash, name, change.tokenExpiresAt, at],
        );
        break;
      case 'activate': {
        const pending = row.pending_sealed ? openTotp(core, row.pending_sealed, name) : null;
        if (!pending || pending.secret !== change.expectedSecret) {
          throw new IdvError('ENROLLMENT_PENDING', `no enrollment is in progress for ${name}`);
        }
        await tx.run(
          'UPDATE users SET totp_sealed = pending_sealed, pending_sealed = NULL, enrolled_at = ? WHERE name = ?',
          [at, name],
        );
        await tx.run('DELETE FROM enroll_tokens WHERE "user" = ?', [name]);
        await tx.run(CLEAR_REPLAY_GUARD, [name]);
        break;
      }
      case 'reset':
        await tx.run(
          `UPDATE users SET totp_sealed = NULL, pending_sealed = NULL, enrolled_at = NULL,
             grace_started_at = ? WHERE name = ?`,
          // The grace ends unless the admin starts a new one: a reset in the first week must not
          // leave a compromised account logging in without a code until the new app is set up.
          [change.newGrace ? at : GRACE_ENDED, name],
        );
        await tx.run('DELETE FROM enroll_tokens WHERE "user" = ?', [name]);
        // The account may be compromised: its recovery codes go with the authenticator.
        await tx.run('DELETE FROM recovery_codes WHERE "user" = ?', [name]);
        await tx.run(CLEAR_REPLAY_GUARD, [name]);
        break;
      case 'unlock':
        if (change.deviceId) {
          await tx.run(
            `INSERT INTO device_unlocks ("user", device_id, at) VALUES (?, ?, ?)
               ON CONFLICT ("user", device_id) DO UPDATE SET at = excluded.at`,
            [name, change.deviceId, at],
          );
        } else {
          await tx.run('UPDATE users SET unlocked_at = ? WHERE name = ?', [at, name]);
        }
        await tx.run(CLEAR_ACCOUNT_LOCK, [name]);
        break;
    }
    if (visible) await bump(core, tx, { kind: 'user', subject: name, before: groups, after }, at);
    return (await userState(core, tx, name)) as UserState;
  }, REVISION_TX);
}

export async function getPendingTotp(core: StoreCore, name: string): Promise<TotpParams | null> {
  const row = await core.db.get<{ pending_sealed: string | null }>(
    'SELECT pending_sealed FROM users WHERE name = ?',
    [name],
  );
  if (!row) throw new IdvError('USER_NOT_FOUND', `no user ${name}`);
  return row.pending_sealed ? openTotp(core, row.pending_sealed, name) : null;
}
