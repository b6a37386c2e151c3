/**
 * The SQLite store (the default backend): one file in the data dir, WAL, every multi-row change
 * in one transaction. TOTP secrets are sealed with the SecretBox before they reach a row.
 */
import { IdvError } from '../../protocol/errors.js';
import { Database, type Queryable } from '../../protocol/io/sqlite.js';
import {
  deviceFactsSchema,
  type DeviceFacts,
  totpParamsSchema,
  type LoginEvent,
  type TotpParams,
} from '../../protocol/messages.js';
import {
  DEFAULT_POLICY,
  policySchema,
  type Policy,
  type PolicyPatch,
} from '../../protocol/policy.js';
import { recoveryCodeId } from '../../protocol/recovery.js';
import { applyAccountItems, CLEAR_ACCOUNT_LOCK, CLEAR_REPLAY_GUARD } from './account.js';
import { SqliteAdminAccounts } from './admins.js';
import { SqliteAuditLog } from './audit.js';
import { hashesEqual, type SecretBox } from './crypto.js';
import { getChain, saveChain, type DeviceChain } from './chain.js';
import { eventFromRow, type EventRow } from './event-row.js';
import { SqliteIntegrations } from './sqlite-integrations.js';
import { SqliteWebSessions } from './sessions.js';
import { MIGRATIONS } from './migrations.js';
import { Notices, type Notice } from './notices.js';
import { SqlPortalStore, type PortalStore } from './portal-state.js';
import type {
  AccountItem,
  AccountResult,
  Change,
  DeviceActivity,
  ChangeSet,
  DeviceState,
  EventQuery,
  NewDevice,
  RegistrationToken,
  SnapshotData,
  Store,
  StoredEvent,
  UserChange,
  UserRole,
  UserState,
} from './store.js';

interface UserRow {
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

interface DeviceRow {
  id: string;
  name: string;
  device_group: string;
  public_key: string;
  facts: string;
  agent_version: string;
  registered_at: number;
  revoked_at: number | null;
  last_seen_at: number | null;
  acked_revision: number;
}

export interface SqliteStoreOptions {
  /** How many change-log entries to keep; older revisions get a snapshot. */
  changeLogRetention?: number;
}

export class SqliteStore implements Store {
  private readonly retention: number;
  readonly portal: PortalStore;
  readonly notices = new Notices();
  /** Notices of the transaction running now, emitted after its commit. */
  private uncommitted: Notice[] = [];
  readonly integrations: SqliteIntegrations;
  readonly admins: SqliteAdminAccounts;
  readonly sessions: SqliteWebSessions;
  readonly audit: SqliteAuditLog;

  private constructor(
    private readonly db: Database,
    private readonly box: SecretBox,
    options: SqliteStoreOptions,
  ) {
    this.retention = options.changeLogRetention ?? 10_000;
    this.portal = new SqlPortalStore(db, box);
    this.integrations = new SqliteIntegrations(db, box);
    this.admins = new SqliteAdminAccounts(db, box);
    this.sessions = new SqliteWebSessions(db);
    this.audit = new SqliteAuditLog(db);
  }

  /** Opens (and migrates) the database at `path`. */
  static async open(
    path: string,
    box: SecretBox,
    options: SqliteStoreOptions = {},
  ): Promise<SqliteStore> {
    const db = await Database.open(path, { synchronous: 'FULL' });
    await db.migrate(MIGRATIONS);
    return new SqliteStore(db, box, options);
  }

  async revision(): Promise<number> {
    const row = await this.db.get<{ value: number }>(
      `SELECT value FROM meta WHERE key = 'revision'`,
    );
    return row?.value ?? 0;
  }

  // -- admin tokens --------------------------------------------------------------------------

  async addAdminToken(hash: string, at: number): Promise<void> {
    await this.db.run('INSERT INTO admin_tokens (hash, created_at) VALUES (?, ?)', [hash, at]);
  }

  async hasAdminToken(hash: string): Promise<boolean> {
    const row = await this.db.get<{ hash: string }>(
      'SELECT hash FROM admin_tokens WHERE hash = ?',
      [hash],
    );
    return row !== undefined && hashesEqual(row.hash, hash);
  }

  // -- users ---------------------------------------------------------------------------------

  private async userFrom(tx: Queryable, row: UserRow): Promise<UserState> {
    const unlocks = await tx.all<{ device_id: string; at: number }>(
      'SELECT device_id, at FROM device_unlocks WHERE user = ?',
      [row.name],
    );
    const codes = await tx.all<{ hash: string }>(
      'SELECT hash FROM recovery_codes WHERE user = ? ORDER BY created_at, id',
      [row.name],
    );
    return this.toUser(
      row,
      unlocks,
      codes.map((c) => c.hash),
    );
  }

  private toUser(
    row: UserRow,
    unlocks: { device_id: string; at: number }[],
    recoveryCodes: string[],
  ): UserState {
    return {
      name: row.name,
      groups: JSON.parse(row.groups) as string[],
      status: row.status === 'suspended' ? 'suspended' : 'active',
      totp: row.totp_sealed ? this.openTotp(row.totp_sealed, row.name) : null,
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

  private openTotp(sealed: string, user: string): TotpParams {
    return totpParamsSchema.parse(JSON.parse(this.box.open(sealed, `totp:${user}`)));
  }

  private sealTotp(totp: TotpParams, user: string): string {
    return this.box.seal(JSON.stringify(totp), `totp:${user}`);
  }

  private async bump(tx: Queryable, change: Omit<Change, 'revision'>, at: number): Promise<number> {
    await tx.run(`UPDATE meta SET value = value + 1 WHERE key = 'revision'`);
    const row = await tx.get<{ value: number }>(`SELECT value FROM meta WHERE key = 'revision'`);
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
      await tx.run('DELETE FROM changes WHERE revision <= ?', [revision - this.retention]);
    }
    this.uncommitted.push({ kind: 'revision', revision });
    return revision;
  }

  /**
   * A transaction whose notices (store/notices.ts) are emitted once it has committed. The
   * notices are collected inside the callback, where no other transaction can run (they are
   * serialized), and dropped when it rolls back.
   */
  private async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    const [result, notices] = await this.db.transaction(async (tx) => {
      this.uncommitted = [];
      try {
        return [await fn(tx), this.uncommitted] as const;
      } finally {
        this.uncommitted = [];
      }
    });
    for (const n of notices) this.notices.emit(n);
    return result;
  }

  async addUser(name: string, groups: string[], at: number): Promise<UserState> {
    return this.transaction(async (tx) => {
      const existing = await tx.get('SELECT name FROM users WHERE name = ?', [name]);
      if (existing) throw new IdvError('USER_EXISTS', `user ${name} already exists`);
      await tx.run(
        `INSERT INTO users (name, groups, status, grace_started_at, created_at) VALUES (?, ?, 'active', ?, ?)`,
        [name, JSON.stringify(groups), at, at],
      );
      await this.bump(tx, { kind: 'user', subject: name, before: null, after: groups }, at);
      const row = (await tx.get<UserRow>('SELECT * FROM users WHERE name = ?', [name])) as UserRow;
      return this.userFrom(tx, row);
    });
  }

  async getUser(name: string): Promise<UserState | null> {
    return this.transaction(async (tx) => {
      const row = await tx.get<UserRow>('SELECT * FROM users WHERE name = ?', [name]);
      return row ? this.userFrom(tx, row) : null;
    });
  }

  private async allUsers(tx: Queryable): Promise<UserState[]> {
    const rows = await tx.all<UserRow>('SELECT * FROM users ORDER BY name');
    const unlocks = await tx.all<{ user: string; device_id: string; at: number }>(
      'SELECT user, device_id, at FROM device_unlocks',
    );
    const byUser = new Map<string, { device_id: string; at: number }[]>();
    for (const u of unlocks) {
      const list = byUser.get(u.user) ?? [];
      list.push(u);
      byUser.set(u.user, list);
    }
    const codes = await tx.all<{ user: string; hash: string }>(
      'SELECT user, hash FROM recovery_codes ORDER BY created_at, id',
    );
    const codesByUser = new Map<string, string[]>();
    for (const c of codes) {
      const list = codesByUser.get(c.user) ?? [];
      list.push(c.hash);
      codesByUser.set(c.user, list);
    }
    return rows.map((r) => this.toUser(r, byUser.get(r.name) ?? [], codesByUser.get(r.name) ?? []));
  }

  async listUsers(): Promise<UserState[]> {
    return this.transaction((tx) => this.allUsers(tx));
  }

  async removeUser(name: string, at: number): Promise<void> {
    await this.transaction(async (tx) => {
      const row = await tx.get<UserRow>('SELECT * FROM users WHERE name = ?', [name]);
      if (!row) throw new IdvError('USER_NOT_FOUND', `no user ${name}`);
      await tx.run('DELETE FROM users WHERE name = ?', [name]);
      await this.bump(
        tx,
        { kind: 'user', subject: name, before: JSON.parse(row.groups) as string[], after: null },
        at,
      );
    });
  }

  async updateUser(name: string, change: UserChange, at: number): Promise<UserState> {
    return this.transaction(async (tx) => {
      const row = await tx.get<UserRow>('SELECT * FROM users WHERE name = ?', [name]);
      if (!row) throw new IdvError('USER_NOT_FOUND', `no user ${name}`);
      const groups = JSON.parse(row.groups) as string[];
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
            this.sealTotp(change.totp, name),
            name,
          ]);
          // One live enrollment link per user: a new one voids the old.
          await tx.run('DELETE FROM enroll_tokens WHERE user = ?', [name]);
          await tx.run(
            'INSERT INTO enroll_tokens (hash, user, expires_at, created_at) VALUES (?, ?, ?, ?)',
            [change.tokenHash, name, change.tokenExpiresAt, at],
          );
          break;
        case 'activate': {
          const pending = row.pending_sealed ? this.openTotp(row.pending_sealed, name) : null;
          if (!pending || pending.secret !== change.expectedSecret) {
            throw new IdvError('ENROLLMENT_PENDING', `no enrollment is in progress for ${name}`);
          }
          await tx.run(
            'UPDATE users SET totp_sealed = pending_sealed, pending_sealed = NULL, enrolled_at = ? WHERE name = ?',
            [at, name],
          );
          await tx.run('DELETE FROM enroll_tokens WHERE user = ?', [name]);
          await tx.run(CLEAR_REPLAY_GUARD, [name]);
          break;
        }
        case 'reset':
          await tx.run(
            `UPDATE users SET totp_sealed = NULL, pending_sealed = NULL, enrolled_at = NULL,
               grace_started_at = CASE WHEN ? THEN ? ELSE grace_started_at END WHERE name = ?`,
            [change.newGrace ? 1 : 0, at, name],
          );
          await tx.run('DELETE FROM enroll_tokens WHERE user = ?', [name]);
          // The account may be compromised: its recovery codes go with the authenticator.
          await tx.run('DELETE FROM recovery_codes WHERE user = ?', [name]);
          await tx.run(CLEAR_REPLAY_GUARD, [name]);
          break;
        case 'unlock':
          if (change.deviceId) {
            await tx.run(
              `INSERT INTO device_unlocks (user, device_id, at) VALUES (?, ?, ?)
                 ON CONFLICT (user, device_id) DO UPDATE SET at = excluded.at`,
              [name, change.deviceId, at],
            );
          } else {
            await tx.run('UPDATE users SET unlocked_at = ? WHERE name = ?', [at, name]);
          }
          await tx.run(CLEAR_ACCOUNT_LOCK, [name]);
          break;
      }
      if (visible) await this.bump(tx, { kind: 'user', subject: name, before: groups, after }, at);
      const updated = (await tx.get<UserRow>('SELECT * FROM users WHERE name = ?', [
        name,
      ])) as UserRow;
      return this.userFrom(tx, updated);
    });
  }

  async getPendingTotp(name: string): Promise<TotpParams | null> {
    const row = await this.db.get<{ pending_sealed: string | null }>(
      'SELECT pending_sealed FROM users WHERE name = ?',
      [name],
    );
    if (!row) throw new IdvError('USER_NOT_FOUND', `no user ${name}`);
    return row.pending_sealed ? this.openTotp(row.pending_sealed, name) : null;
  }

  async findEnrollment(
    tokenHash: string,
    now: number,
  ): Promise<{ user: string; expiresAt: number } | null> {
    const row = await this.db.get<{ hash: string; user: string; expires_at: number }>(
      'SELECT hash, user, expires_at FROM enroll_tokens WHERE hash = ?',
      [tokenHash],
    );
    if (!row || !hashesEqual(row.hash, tokenHash) || row.expires_at <= now) return null;
    return { user: row.user, expiresAt: row.expires_at };
  }

  async consumeEnrollment(
    tokenHash: string,
    now: number,
  ): Promise<{ user: string; expiresAt: number } | null> {
    return this.transaction(async (tx) => {
      const row = await tx.get<{ hash: string; user: string; expires_at: number }>(
        'SELECT hash, user, expires_at FROM enroll_tokens WHERE hash = ?',
        [tokenHash],
      );
      if (!row || !hashesEqual(row.hash, tokenHash)) return null;
      await tx.run('DELETE FROM enroll_tokens WHERE hash = ?', [tokenHash]);
      if (row.expires_at <= now) return null;
      return { user: row.user, expiresAt: row.expires_at };
    });
  }

  // -- recovery codes and roles (portal) -----------------------------------------------------

  async setRecoveryCodes(name: string, hashes: string[], at: number): Promise<UserState> {
    const ids = hashes.map((h) => recoveryCodeId(h));
    if (ids.some((id) => id === null) || new Set(ids).size !== ids.length)
      throw new IdvError('VALIDATION_FAILED', 'recoveryCodes: not distinct recovery-code hashes');
    return this.transaction(async (tx) => {
      const row = await tx.get<UserRow>('SELECT * FROM users WHERE name = ?', [name]);
      if (!row) throw new IdvError('USER_NOT_FOUND', `no user ${name}`);
      await tx.run('DELETE FROM recovery_codes WHERE user = ?', [name]);
      for (const [i, hash] of hashes.entries()) {
        await tx.run(
          'INSERT INTO recovery_codes (user, id, hash, created_at) VALUES (?, ?, ?, ?)',
          [name, ids[i], hash, at],
        );
      }
      const groups = JSON.parse(row.groups) as string[];
      await this.bump(tx, { kind: 'user', subject: name, before: groups, after: groups }, at);
      return this.userFrom(tx, row);
    });
  }

  async useRecoveryCode(name: string, id: string, at: number): Promise<boolean> {
    return this.transaction(async (tx) => {
      const row = await tx.get<UserRow>('SELECT * FROM users WHERE name = ?', [name]);
      if (!row) return false;
      const r = await tx.run('DELETE FROM recovery_codes WHERE user = ? AND id = ?', [name, id]);
      if (r.changes !== 1) return false;
      const groups = JSON.parse(row.groups) as string[];
      await this.bump(tx, { kind: 'user', subject: name, before: groups, after: groups }, at);
      return true;
    });
  }

  async setRole(name: string, role: UserRole, at: number): Promise<UserState> {
    return this.transaction(async (tx) => {
      const r = await tx.run('UPDATE users SET role = ? WHERE name = ?', [role, name]);
      if (r.changes !== 1) throw new IdvError('USER_NOT_FOUND', `no user ${name}`);
      void at; // the role is not part of what devices see: no revision
      const row = (await tx.get<UserRow>('SELECT * FROM users WHERE name = ?', [name])) as UserRow;
      return this.userFrom(tx, row);
    });
  }

  // -- policy --------------------------------------------------------------------------------

  private async policyOf(
    tx: Queryable,
    group: string,
  ): Promise<{ policy: Policy; explicit: boolean }> {
    const row = await tx.get<{ policy: string }>(
      'SELECT policy FROM policies WHERE device_group = ?',
      [group],
    );
    if (!row) return { policy: { ...DEFAULT_POLICY }, explicit: false };
    // Fields added to the policy later take their default for groups stored before.
    return {
      policy: policySchema.parse({ ...DEFAULT_POLICY, ...JSON.parse(row.policy) }),
      explicit: true,
    };
  }

  async getPolicy(deviceGroup: string): Promise<{ policy: Policy; explicit: boolean }> {
    return this.transaction((tx) => this.policyOf(tx, deviceGroup));
  }

  async setPolicy(deviceGroup: string, patch: PolicyPatch, at: number): Promise<Policy> {
    return this.transaction(async (tx) => {
      const { policy: before } = await this.policyOf(tx, deviceGroup);
      const policy = policySchema.parse({ ...before, ...patch });
      await tx.run(
        `INSERT INTO policies (device_group, policy, updated_at) VALUES (?, ?, ?)
           ON CONFLICT (device_group) DO UPDATE SET policy = excluded.policy, updated_at = excluded.updated_at`,
        [deviceGroup, JSON.stringify(policy), at],
      );
      const scope =
        JSON.stringify([...before.userGroups].sort()) !==
        JSON.stringify([...policy.userGroups].sort());
      await this.bump(
        tx,
        { kind: scope ? 'scope' : 'policy', subject: deviceGroup, before: null, after: null },
        at,
      );
      return policy;
    });
  }

  async listDeviceGroups(): Promise<string[]> {
    const rows = await this.db.all<{ g: string }>(
      `SELECT device_group AS g FROM policies UNION SELECT device_group FROM devices
         UNION SELECT device_group FROM reg_tokens UNION SELECT 'default' ORDER BY 1`,
    );
    return rows.map((r) => r.g);
  }

  // -- devices -------------------------------------------------------------------------------

  async addRegistrationToken(hash: string, token: RegistrationToken, at: number): Promise<void> {
    await this.db.run(
      'INSERT INTO reg_tokens (hash, device_group, uses_left, expires_at, created_at) VALUES (?, ?, ?, ?, ?)',
      [hash, token.deviceGroup, token.uses, token.expiresAt, at],
    );
  }

  async registerDevice(tokenHash: string, device: NewDevice, at: number): Promise<DeviceState> {
    return this.transaction(async (tx) => {
      const token = await tx.get<{
        hash: string;
        device_group: string;
        uses_left: number;
        expires_at: number;
      }>('SELECT * FROM reg_tokens WHERE hash = ?', [tokenHash]);
      if (
        !token ||
        !hashesEqual(token.hash, tokenHash) ||
        token.uses_left < 1 ||
        token.expires_at <= at
      ) {
        throw new IdvError('TOKEN_INVALID');
      }
      if (token.uses_left === 1) await tx.run('DELETE FROM reg_tokens WHERE hash = ?', [tokenHash]);
      else
        await tx.run('UPDATE reg_tokens SET uses_left = uses_left - 1 WHERE hash = ?', [tokenHash]);
      const sameKey = await tx.get('SELECT id FROM devices WHERE public_key = ?', [
        device.publicKey,
      ]);
      if (sameKey)
        throw new IdvError('VALIDATION_FAILED', 'publicKey: this key is already registered');
      await tx.run(
        `INSERT INTO devices (id, name, device_group, public_key, facts, agent_version, registered_at)
           VALUES (?, ?, ?, ?, ?, ?, ?)`,
        [
          device.id,
          device.name,
          token.device_group,
          device.publicKey,
          JSON.stringify(device.facts),
          device.agentVersion,
          at,
        ],
      );
      return this.toDevice(
        (await tx.get<DeviceRow>('SELECT * FROM devices WHERE id = ?', [device.id])) as DeviceRow,
      );
    });
  }

  private toDevice(row: DeviceRow): DeviceState {
    return {
      id: row.id,
      name: row.name,
      deviceGroup: row.device_group,
      publicKey: row.public_key,
      facts: deviceFactsSchema.parse(JSON.parse(row.facts)),
      agentVersion: row.agent_version,
      registeredAt: row.registered_at,
      revokedAt: row.revoked_at,
      lastSeenAt: row.last_seen_at,
      ackedRevision: row.acked_revision,
    };
  }

  async getDevice(id: string): Promise<DeviceState | null> {
    const row = await this.db.get<DeviceRow>('SELECT * FROM devices WHERE id = ?', [id]);
    return row ? this.toDevice(row) : null;
  }

  async listDevices(): Promise<DeviceState[]> {
    const rows = await this.db.all<DeviceRow>('SELECT * FROM devices ORDER BY registered_at, id');
    return rows.map((r) => this.toDevice(r));
  }

  async revokeDevice(id: string, at: number): Promise<DeviceState> {
    return this.transaction(async (tx) => {
      const row = await tx.get<DeviceRow>('SELECT * FROM devices WHERE id = ?', [id]);
      if (!row) throw new IdvError('DEVICE_NOT_FOUND', `no device ${id}`);
      if (row.revoked_at === null)
        await tx.run('UPDATE devices SET revoked_at = ? WHERE id = ?', [at, id]);
      this.uncommitted.push({ kind: 'revoked', device: id });
      return this.toDevice(
        (await tx.get<DeviceRow>('SELECT * FROM devices WHERE id = ?', [id])) as DeviceRow,
      );
    });
  }

  async touchDevice(
    id: string,
    seen: {
      at: number;
      facts?: DeviceFacts;
      agentVersion?: string;
    },
  ): Promise<void> {
    await this.db.run(
      `UPDATE devices SET last_seen_at = ?, facts = COALESCE(?, facts), agent_version = COALESCE(?, agent_version)
         WHERE id = ?`,
      [seen.at, seen.facts ? JSON.stringify(seen.facts) : null, seen.agentVersion ?? null, id],
    );
  }

  async recordDeviceActivity(updates: readonly DeviceActivity[]): Promise<void> {
    if (updates.length === 0) return;
    // One statement for the whole batch (thousands of acks after a push), run by SQLite itself
    // rather than one round trip per device through the event loop.
    await this.db.run(
      `UPDATE devices SET
         last_seen_at = COALESCE(u.seen, devices.last_seen_at),
         acked_revision = COALESCE(u.acked, devices.acked_revision),
         facts = COALESCE(u.newFacts, devices.facts),
         agent_version = COALESCE(u.ver, devices.agent_version)
       FROM (SELECT json_extract(value, '$.id') AS id, json_extract(value, '$.seenAt') AS seen,
               json_extract(value, '$.ackedRevision') AS acked, json_extract(value, '$.facts') AS newFacts,
               json_extract(value, '$.agentVersion') AS ver
             FROM json_each(?)) AS u
       WHERE devices.id = u.id`,
      [JSON.stringify(updates)],
    );
  }

  async setAckedRevision(id: string, revision: number): Promise<void> {
    await this.db.run('UPDATE devices SET acked_revision = ? WHERE id = ?', [revision, id]);
  }

  // -- events --------------------------------------------------------------------------------

  async addEvents(deviceId: string, events: LoginEvent[], at: number): Promise<StoredEvent[]> {
    return this.transaction(async (tx) => {
      const stored: StoredEvent[] = [];
      for (const e of events) {
        const r = await tx.run(
          `INSERT INTO events (id, device_id, at, user, service, outcome, rhost, tty, reason, recovery_code_id, received_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (device_id, id) DO NOTHING`,
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
          ],
        );
        if (r.changes === 1) stored.push({ ...e, device: deviceId, receivedAt: at, seq: r.lastID });
      }
      const last = stored.at(-1);
      if (last) this.uncommitted.push({ kind: 'events', seq: last.seq });
      return stored;
    });
  }

  async applyAccount(
    deviceId: string,
    items: readonly AccountItem[],
    at: number,
  ): Promise<AccountResult> {
    if (items.length === 0) return { changed: false, locked: [] };
    return this.transaction((tx) =>
      applyAccountItems(tx, deviceId, items, at, (t, c, a) => this.bump(t, c, a)),
    );
  }

  getChain(deviceId: string): Promise<DeviceChain> {
    return getChain(this.db, deviceId);
  }

  saveChain(deviceId: string, chain: DeviceChain): Promise<void> {
    return saveChain(this.db, deviceId, chain);
  }

  async queryEvents(q: EventQuery): Promise<StoredEvent[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (q.user !== undefined) {
      where.push('user = ?');
      params.push(q.user);
    }
    if (q.device !== undefined) {
      where.push('device_id = ?');
      params.push(q.device);
    }
    if (q.since !== undefined) {
      where.push('at >= ?');
      params.push(q.since);
    }
    if (q.until !== undefined) {
      where.push('at < ?');
      params.push(q.until);
    }
    if (q.afterSeq !== undefined) {
      where.push('seq > ?');
      params.push(q.afterSeq);
    }
    if (q.beforeSeq !== undefined) {
      where.push('seq < ?');
      params.push(q.beforeSeq);
    }
    // Latest `limit` events, returned oldest first.
    const rows = await this.db.all<EventRow>(
      `SELECT * FROM (SELECT * FROM events ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
         ORDER BY seq DESC LIMIT ?) ORDER BY seq`,
      [...params, q.limit],
    );
    return rows.map(eventFromRow);
  }

  // -- sync ----------------------------------------------------------------------------------

  async snapshot(deviceGroup: string): Promise<SnapshotData> {
    return this.transaction(async (tx) => {
      const row = await tx.get<{ value: number }>(`SELECT value FROM meta WHERE key = 'revision'`);
      const { policy } = await this.policyOf(tx, deviceGroup);
      return { revision: row?.value ?? 0, policy, users: await this.allUsers(tx) };
    });
  }

  async changesSince(
    since: number,
    maxChanges: number,
    deviceGroups: readonly string[],
  ): Promise<ChangeSet> {
    return this.transaction(async (tx) => {
      const row = await tx.get<{ value: number }>(`SELECT value FROM meta WHERE key = 'revision'`);
      const revision = row?.value ?? 0;
      if (since > revision || since < 0) return { kind: 'tooFar', revision };
      if (revision - since > maxChanges) return { kind: 'tooFar', revision };
      const policies = new Map<string, Policy>();
      for (const g of deviceGroups) policies.set(g, (await this.policyOf(tx, g)).policy);
      if (since === revision)
        return { kind: 'changes', revision, changes: [], users: new Map(), policies };
      const rows = await tx.all<{
        revision: number;
        kind: string;
        subject: string;
        before: string | null;
        after: string | null;
      }>(
        'SELECT revision, kind, subject, before, after FROM changes WHERE revision > ? ORDER BY revision',
        [since],
      );
      // Every revision has exactly one log entry: a gap means the log was pruned past `since`.
      if (rows.length !== revision - since || rows[0]?.revision !== since + 1)
        return { kind: 'tooFar', revision };
      const changes: Change[] = rows.map((r) => ({
        revision: r.revision,
        kind: r.kind as Change['kind'],
        subject: r.subject,
        before: r.before ? (JSON.parse(r.before) as string[]) : null,
        after: r.after ? (JSON.parse(r.after) as string[]) : null,
      }));
      const users = new Map<string, UserState>();
      for (const c of changes) {
        if (c.kind === 'user' && !users.has(c.subject)) {
          const u = await tx.get<UserRow>('SELECT * FROM users WHERE name = ?', [c.subject]);
          if (u) users.set(c.subject, await this.userFrom(tx, u));
        } else if (c.kind !== 'user' && !policies.has(c.subject)) {
          policies.set(c.subject, (await this.policyOf(tx, c.subject)).policy);
        }
      }
      return { kind: 'changes', revision, changes, users, policies };
    });
  }

  close(): Promise<void> {
    return this.db.close();
  }
}
