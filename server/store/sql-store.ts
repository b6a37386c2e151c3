/**
 * The Store over either driver: one implementation in portable SQL (see db.ts), its parts in
 * one file per area. To add a method: write it as a function of a StoreCore in its area's file
 * (or a new file), declare it on Store (store.ts), and add its one-line delegation here.
 */
import type { DeviceFacts, LoginEvent, TotpParams } from '../../protocol/messages.js';
import type { Policy, PolicyPatch } from '../../protocol/policy.js';
import { currentRevision } from './changelog.js';
import type { StoreCore } from './core.js';
import { hashesEqual, type SecretBox } from './crypto.js';
import type { Db } from './db.js';
import type { HealthState } from './health.js';
import * as devices from './devices.js';
import { SqliteAdminAccounts } from './admins.js';
import { SqliteAuditLog } from './audit.js';
import { getChain, saveChain, type DeviceChain } from './chain.js';
import { SqliteWebSessions } from './sessions.js';
import * as events from './events.js';
import { Notices } from './notices.js';
import { SqlPortalStore, type PortalStore } from './portal-state.js';
import { SqliteIntegrations } from './sqlite-integrations.js';
import * as policies from './policies.js';
import * as portal from './portal.js';
import * as regTokens from './reg-tokens.js';
import type {
  AccountItem,
  AccountResult,
  ChangeSet,
  DeviceActivity,
  DeviceState,
  EventQuery,
  NewDevice,
  RegistrationToken,
  RegistrationTokenInfo,
  SnapshotData,
  Store,
  StoredEvent,
  UserChange,
  UserRole,
  UserState,
} from './store.js';
import * as sync from './sync.js';
import * as users from './users.js';

export interface StoreOptions {
  /** How many change-log entries to keep; older revisions get a snapshot. */
  changeLogRetention?: number;
}

export class SqlStore implements Store {
  private readonly c: StoreCore;
  readonly notices = new Notices();
  readonly portal: PortalStore;
  /** Directory sync, the mail queue, forwarding cursors (sqlite-integrations.ts, portable SQL). */
  readonly integrations: SqliteIntegrations;
  /** The console's admin accounts, browser sessions, audit log (admins.ts, sessions.ts, audit.ts). */
  readonly admins: SqliteAdminAccounts;
  readonly sessions: SqliteWebSessions;
  readonly audit: SqliteAuditLog;

  constructor(
    readonly db: Db,
    box: SecretBox,
    options: StoreOptions = {},
  ) {
    this.c = {
      db,
      box,
      retention: options.changeLogRetention ?? 10_000,
      notify: (n) => this.notices.emit(n),
    };
    this.portal = new SqlPortalStore(db, box);
    this.integrations = new SqliteIntegrations(db, box);
    this.admins = new SqliteAdminAccounts(db, box);
    this.sessions = new SqliteWebSessions(db);
    this.audit = new SqliteAuditLog(this.c);
  }

  get backend(): Db['dialect'] {
    return this.db.dialect;
  }

  revision(): Promise<number> {
    return currentRevision(this.db);
  }

  async checkHealth(): Promise<HealthState | null> {
    if (this.db.health.current() === null) return null;
    // A row of its own: writing `revision` would conflict with every change being made.
    await this.db
      .run(
        `INSERT INTO meta (key, value) VALUES ('health_probe', 1)
           ON CONFLICT (key) DO UPDATE SET value = meta.value + 1`,
      )
      .catch(() => undefined); // a failure is what health now holds
    return this.db.health.current();
  }

  /** Stores the master key's fingerprint on first use; says whether `fingerprint` is it. */
  async checkMasterKey(fingerprint: number): Promise<'match' | 'mismatch'> {
    await this.db.run(
      `INSERT INTO meta (key, value) VALUES ('master_key_check', ?) ON CONFLICT (key) DO NOTHING`,
      [fingerprint],
    );
    const row = await this.db.get<{ value: number }>(
      `SELECT value FROM meta WHERE key = 'master_key_check'`,
    );
    return row?.value === fingerprint ? 'match' : 'mismatch';
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

  // -- users (users.ts, portal.ts) -----------------------------------------------------------

  addUser(name: string, groups: string[], at: number): Promise<UserState> {
    return users.addUser(this.c, name, groups, at);
  }
  getUser(name: string): Promise<UserState | null> {
    return users.getUser(this.c, name);
  }
  listUsers(): Promise<UserState[]> {
    return users.listUsers(this.c);
  }
  removeUser(name: string, at: number): Promise<void> {
    return users.removeUser(this.c, name, at);
  }
  updateUser(name: string, change: UserChange, at: number): Promise<UserState> {
    return users.updateUser(this.c, name, change, at);
  }
  getPendingTotp(name: string): Promise<TotpParams | null> {
    return users.getPendingTotp(this.c, name);
  }
  findEnrollment(tokenHash: string, now: number) {
    return portal.findEnrollment(this.c, tokenHash, now);
  }
  consumeEnrollment(tokenHash: string, now: number) {
    return portal.consumeEnrollment(this.c, tokenHash, now);
  }
  setRecoveryCodes(name: string, hashes: string[], at: number): Promise<UserState> {
    return portal.setRecoveryCodes(this.c, name, hashes, at);
  }
  useRecoveryCode(name: string, id: string, at: number): Promise<boolean> {
    return portal.useRecoveryCode(this.c, name, id, at);
  }
  setRole(name: string, role: UserRole, at: number): Promise<UserState> {
    void at; // the role is not part of what devices see: no revision
    return portal.setRole(this.c, name, role);
  }

  // -- policy (policies.ts) ------------------------------------------------------------------

  getPolicy(deviceGroup: string): Promise<{ policy: Policy; explicit: boolean }> {
    return policies.getPolicy(this.c, deviceGroup);
  }
  setPolicy(deviceGroup: string, patch: PolicyPatch, at: number): Promise<Policy> {
    return policies.setPolicy(this.c, deviceGroup, patch, at);
  }
  listDeviceGroups(): Promise<string[]> {
    return policies.listDeviceGroups(this.c);
  }

  // -- devices (devices.ts) ------------------------------------------------------------------

  addRegistrationToken(
    hash: string,
    token: RegistrationToken,
    at: number,
  ): Promise<RegistrationTokenInfo> {
    return regTokens.addRegistrationToken(this.c, hash, token, at);
  }
  listRegistrationTokens(): Promise<RegistrationTokenInfo[]> {
    return regTokens.listRegistrationTokens(this.c);
  }
  revokeRegistrationToken(id: string, at: number): Promise<RegistrationTokenInfo> {
    return regTokens.revokeRegistrationToken(this.c, id, at);
  }
  registerDevice(tokenHash: string, device: NewDevice, at: number): Promise<DeviceState> {
    return devices.registerDevice(this.c, tokenHash, device, at);
  }
  getDevice(id: string): Promise<DeviceState | null> {
    return devices.getDevice(this.c, id);
  }
  getDevices(ids: readonly string[]): Promise<Map<string, DeviceState>> {
    return devices.getDevices(this.c, ids);
  }
  getHelpdeskSecret(id: string): Promise<Buffer | null> {
    return devices.getHelpdeskSecret(this.c, id);
  }
  offerHelpdeskSecret(id: string, fresh: Buffer): Promise<Buffer | null> {
    return devices.offerHelpdeskSecret(this.c, id, fresh);
  }
  confirmHelpdeskSecret(id: string): Promise<boolean> {
    return devices.confirmHelpdeskSecret(this.c, id);
  }
  listDevices(): Promise<DeviceState[]> {
    return devices.listDevices(this.c);
  }
  revokeDevice(id: string, at: number): Promise<DeviceState> {
    return devices.revokeDevice(this.c, id, at);
  }
  touchDevice(
    id: string,
    seen: { at: number; facts?: DeviceFacts; agentVersion?: string },
  ): Promise<void> {
    return devices.touchDevice(this.c, id, seen);
  }
  setAckedRevision(id: string, revision: number): Promise<void> {
    return devices.setAckedRevision(this.c, id, revision);
  }
  recordDeviceActivity(updates: readonly DeviceActivity[]): Promise<void> {
    return devices.recordDeviceActivity(this.c, updates);
  }

  // -- events (events.ts) --------------------------------------------------------------------

  addEvents(
    deviceId: string,
    list: LoginEvent[],
    at: number,
    options: { afterRevocation?: boolean } = {},
  ): Promise<StoredEvent[]> {
    return events.addEvents(this.c, deviceId, list, at, options);
  }
  queryEvents(query: EventQuery): Promise<StoredEvent[]> {
    return events.queryEvents(this.c, query);
  }
  getChain(deviceId: string): Promise<DeviceChain> {
    return getChain(this.db, deviceId);
  }
  saveChain(deviceId: string, chain: DeviceChain): Promise<void> {
    return saveChain(this.db, deviceId, chain);
  }
  applyAccount(
    deviceId: string,
    items: readonly AccountItem[],
    at: number,
  ): Promise<AccountResult> {
    return events.applyAccount(this.c, deviceId, items, at);
  }

  // -- sync (sync.ts) ------------------------------------------------------------------------

  snapshot(deviceGroup: string): Promise<SnapshotData> {
    return sync.snapshot(this.c, deviceGroup);
  }
  changesSince(
    since: number,
    maxChanges: number,
    deviceGroups: readonly string[],
  ): Promise<ChangeSet> {
    return sync.changesSince(this.c, since, maxChanges, deviceGroups);
  }

  close(): Promise<void> {
    return this.db.close();
  }
}
