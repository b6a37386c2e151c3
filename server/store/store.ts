/**
 * The server's store: what idv-server keeps, behind an async interface that does not leak the
 * backend (SQLite or PostgreSQL: server/store/open.ts). Every method that changes several rows
 * does so in one transaction; every change a device could see bumps the global revision and is
 * written to the change log, from which deltas are computed. Isolation per method: docs/server.md,
 * "Store".
 */
import type { HealthState } from './health.js';
import type { DeviceFacts, LoginEvent, TotpParams } from '../../protocol/messages.js';
import type { Policy, PolicyPatch } from '../../protocol/policy.js';
import type { Notices } from './notices.js';
import type { PortalStore } from './portal-state.js';
import type { DeviceChain } from './chain.js';
import type { IntegrationStore } from './integrations.js';
import type { AdminAccounts } from './admins.js';
import type { AuditLog } from './audit.js';
import type { WebSessions } from './sessions.js';

export type UserStatus = 'active' | 'suspended';
/** `admin`: an administrator's own account (portal sign-in limited to five attempts). */
export type UserRole = 'user' | 'admin';

export interface UserState {
  name: string;
  groups: string[];
  status: UserStatus;
  /** Active TOTP parameters (decrypted), null until enrolled or after a reset. */
  totp: TotpParams | null;
  /** An enrollment is waiting for `confirm`. */
  pending: boolean;
  graceStartedAt: number;
  /** Last global admin unlock, epoch ms. */
  unlockedAt: number | null;
  /** Admin unlocks for one device: device id → epoch ms. */
  deviceUnlocks: Record<string, number>;
  createdAt: number;
  enrolledAt: number | null;
  role: UserRole;
  /** Slow hashes of the unused recovery codes (protocol/recovery.ts), oldest first. */
  recoveryCodes: string[];
  /** Newest TOTP step accepted on any device (the fleet-wide replay guard); null: none. */
  lastStep: number | null;
  /** Consecutive failed codes over all devices (the account's attempt budget). */
  accountFailures: number;
  /** When the account lock started (budget reached), epoch ms; null: not locked. */
  accountLockedAt: number | null;
}

/** One uploaded login event's effect on its account (server/sync/account.ts picks them). */
export interface AccountItem {
  /** The event it comes from: counted at most once however often the device sends it. */
  eventId: string;
  user: string;
  /** A code accepted (resets the count) or a code checked and refused (counts one). */
  kind: 'success' | 'failure';
  /** success with a TOTP code: the step accepted (raises the fleet-wide replay guard). */
  step?: number;
  /** failure: the budget (accountMaxFailures) of the device group where it happened. */
  maxFailures: number;
}

export interface AccountResult {
  /** Something devices see changed (replay guard raised, account locked): push it. */
  changed: boolean;
  /** Accounts these items locked, with their failure count. */
  locked: { user: string; failures: number }[];
}

export type UserChange =
  | { kind: 'status'; status: UserStatus }
  | { kind: 'groups'; groups: string[] }
  /** A new pending secret and its one-time enrollment token (hash); not visible to devices. */
  | { kind: 'pending'; totp: TotpParams; tokenHash: string; tokenExpiresAt: number }
  /** Activate the pending secret, which must still be `expectedSecret`. */
  | { kind: 'activate'; expectedSecret: string }
  /** newGrace false ends the enrollment grace (graceStartedAt GRACE_ENDED). */
  | { kind: 'reset'; newGrace: boolean }
  | { kind: 'unlock'; deviceId?: string };

export interface DeviceState {
  id: string;
  name: string;
  deviceGroup: string;
  /** Ed25519 public key, raw 32 bytes base64url. */
  publicKey: string;
  facts: DeviceFacts;
  agentVersion: string;
  registeredAt: number;
  revokedAt: number | null;
  lastSeenAt: number | null;
  ackedRevision: number;
}

/** What a live connection learns about its device; written in batches. */
export interface DeviceActivity {
  id: string;
  seenAt?: number;
  ackedRevision?: number;
  facts?: DeviceFacts;
  agentVersion?: string;
}

export interface NewDevice {
  id: string;
  name: string;
  publicKey: string;
  facts: DeviceFacts;
  agentVersion: string;
  /** The helpdesk secret (32 bytes, issue 15), stored sealed; absent for an older agent. */
  helpdeskSecret?: Buffer;
}

export interface RegistrationToken {
  deviceGroup: string;
  uses: number;
  expiresAt: number;
  /** The audit log's actor who made it (`admin:NAME`, `token:abcd1234`). */
  createdBy?: string;
}

/** A registration token as listed: never the token or its hash. */
export interface RegistrationTokenInfo {
  id: string;
  deviceGroup: string;
  /** Registrations it allowed in all, and those left. */
  uses: number;
  usesLeft: number;
  expiresAt: number;
  createdAt: number;
  createdBy: string;
  revokedAt: number | null;
}

export interface StoredEvent extends LoginEvent {
  device: string;
  receivedAt: number;
  /** Uploaded by a device already revoked (its last upload of what it decided before knowing). */
  afterRevocation?: true;
  /** Store order, for following. */
  seq: number;
}

export interface EventQuery {
  user?: string;
  device?: string;
  since?: number;
  until?: number;
  afterSeq?: number;
  /** Only events with a smaller seq. */
  beforeSeq?: number;
  limit: number;
}

/** One entry of the change log. */
export interface Change {
  revision: number;
  /** `scope`: a policy change that alters which users the group's devices are entitled to. */
  kind: 'user' | 'policy' | 'scope';
  /** A user name (`user`) or a device group (`policy`, `scope`). */
  subject: string;
  /** For `user`: the user's groups before and after (null when absent), to know who had it. */
  before: string[] | null;
  after: string[] | null;
}

export type ChangeSet =
  | { kind: 'tooFar'; revision: number }
  | {
      kind: 'changes';
      revision: number;
      changes: Change[];
      /** Current state of every user named by a change (absent: removed). */
      users: Map<string, UserState>;
      /** Current policy of the groups asked for and of every group a change names. */
      policies: Map<string, Policy>;
    };

export interface SnapshotData {
  revision: number;
  policy: Policy;
  users: UserState[];
}

export interface Store {
  /** The portal's sessions, sign-in counters and replay guard (store/portal-state.ts). */
  readonly portal: PortalStore;
  /** Told after each commit of a revision, of stored events, of a revocation (store/notices.ts). */
  readonly notices: Notices;

  revision(): Promise<number>;
  /**
   * Null when the store takes writes; else why it could not at the last write (disk full,
   * read-only, down). While it cannot, each call tries one small write, so the answer clears
   * as soon as the store recovers (server/store/health.ts).
   */
  checkHealth(): Promise<HealthState | null>;

  /** The console's admin accounts (server/store/admins.ts). */
  readonly admins: AdminAccounts;
  /** Browser sessions of the console and the portal (server/store/sessions.ts). */
  readonly sessions: WebSessions;
  /** Every admin action (server/store/audit.ts). */
  readonly audit: AuditLog;

  addAdminToken(hash: string, at: number): Promise<void>;
  /** True when a token with this hash exists (compared in constant time). */
  hasAdminToken(hash: string): Promise<boolean>;

  addUser(name: string, groups: string[], at: number): Promise<UserState>;
  getUser(name: string): Promise<UserState | null>;
  listUsers(): Promise<UserState[]>;
  removeUser(name: string, at: number): Promise<void>;
  updateUser(name: string, change: UserChange, at: number): Promise<UserState>;
  /** The pending (unconfirmed) TOTP parameters, decrypted. */
  getPendingTotp(name: string): Promise<TotpParams | null>;
  /** The user an unexpired enrollment token belongs to (for the portal). */
  findEnrollment(
    tokenHash: string,
    now: number,
  ): Promise<{ user: string; expiresAt: number } | null>;

  /** Takes an unexpired enrollment token for good (single use): its user, or null. */
  consumeEnrollment(
    tokenHash: string,
    now: number,
  ): Promise<{ user: string; expiresAt: number } | null>;
  /** Replaces all of the user's recovery codes with these hashes (devices see the change). */
  setRecoveryCodes(name: string, hashes: string[], at: number): Promise<UserState>;
  /** Removes one recovery code by its id; false when it was not there (used already). */
  useRecoveryCode(name: string, id: string, at: number): Promise<boolean>;
  setRole(name: string, role: UserRole, at: number): Promise<UserState>;

  getPolicy(deviceGroup: string): Promise<{ policy: Policy; explicit: boolean }>;
  setPolicy(deviceGroup: string, patch: PolicyPatch, at: number): Promise<Policy>;
  listDeviceGroups(): Promise<string[]>;

  addRegistrationToken(
    hash: string,
    token: RegistrationToken,
    at: number,
  ): Promise<RegistrationTokenInfo>;
  /** Newest first, used-up, expired and revoked ones too (pruned 30 days past expiry). */
  listRegistrationTokens(): Promise<RegistrationTokenInfo[]>;
  /** No registration may use it after; NOT_FOUND for an unknown id; again is a no-op. */
  revokeRegistrationToken(id: string, at: number): Promise<RegistrationTokenInfo>;
  /** Consumes one use of the token and adds the device, atomically; TOKEN_INVALID otherwise. */
  registerDevice(tokenHash: string, device: NewDevice, at: number): Promise<DeviceState>;
  getDevice(id: string): Promise<DeviceState | null>;
  /** The devices of `ids` that exist, by id (unknown ids are absent); any number of ids. */
  getDevices(ids: readonly string[]): Promise<Map<string, DeviceState>>;
  /** The device's helpdesk secret, opened; null when it was registered before helpdesk codes. */
  getHelpdeskSecret(id: string): Promise<Buffer | null>;
  /**
   * For a device without one (registered before helpdesk codes, not revoked): the secret its
   * agent is to keep, `fresh` unless one is pending already; null otherwise (issue 26).
   */
  offerHelpdeskSecret(id: string, fresh: Buffer): Promise<Buffer | null>;
  /** The agent kept the offered secret: codes may be issued from now on; false if none pending. */
  confirmHelpdeskSecret(id: string): Promise<boolean>;
  listDevices(): Promise<DeviceState[]>;
  revokeDevice(id: string, at: number): Promise<DeviceState>;
  touchDevice(
    id: string,
    seen: { at: number; facts?: DeviceFacts; agentVersion?: string },
  ): Promise<void>;
  setAckedRevision(id: string, revision: number): Promise<void>;
  /** Many devices' last-seen / acked revision / facts at once, in one transaction. */
  recordDeviceActivity(updates: readonly DeviceActivity[]): Promise<void>;

  /** Stores the events not stored yet (by id); returns the newly stored ones. */
  addEvents(
    deviceId: string,
    events: LoginEvent[],
    at: number,
    options?: { afterRevocation?: boolean },
  ): Promise<StoredEvent[]>;
  queryEvents(query: EventQuery): Promise<StoredEvent[]>;
  /**
   * Applies the account rules to events already stored by addEvents, each at most once (by
   * device and event id), in one transaction: success resets the count and raises the replay
   * guard, a failure counts one and the one reaching its budget locks the account.
   */
  applyAccount(deviceId: string, items: readonly AccountItem[], at: number): Promise<AccountResult>;

  /** The device's event-chain head and breaks (server/store/chain.ts). */
  getChain(deviceId: string): Promise<DeviceChain>;
  saveChain(deviceId: string, chain: DeviceChain): Promise<void>;

  /** Everything a device group needs for a snapshot, read atomically. */
  snapshot(deviceGroup: string): Promise<SnapshotData>;
  /**
   * The changes after `since` with the current state they refer to (and the current policy of
   * `deviceGroups` and of every group a change names), read atomically; or tooFar.
   */
  changesSince(
    since: number,
    maxChanges: number,
    deviceGroups: readonly string[],
  ): Promise<ChangeSet>;

  /** Directory sync, the mail queue and the forwarding cursors (server/store/integrations.ts). */
  readonly integrations: IntegrationStore;

  close(): Promise<void>;
}
