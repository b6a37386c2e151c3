import { CHAIN_MIGRATION } from './chain.js';
import { PORTAL_TABLES } from './portal-state.js';
import { INTEGRATION_TABLES } from './sqlite-integrations.js';

/** SQLite schema, one entry per version (PRAGMA user_version); never edit a shipped entry. */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
  INSERT INTO meta (key, value) VALUES ('revision', 0);
  CREATE TABLE admin_tokens (hash TEXT PRIMARY KEY, created_at INTEGER NOT NULL);
  CREATE TABLE users (
    name TEXT PRIMARY KEY,
    groups TEXT NOT NULL,
    status TEXT NOT NULL,
    totp_sealed TEXT,
    pending_sealed TEXT,
    grace_started_at INTEGER NOT NULL,
    unlocked_at INTEGER,
    created_at INTEGER NOT NULL,
    enrolled_at INTEGER
  );
  CREATE TABLE device_unlocks (
    user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    device_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (user, device_id)
  );
  CREATE TABLE enroll_tokens (
    hash TEXT PRIMARY KEY,
    user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE policies (device_group TEXT PRIMARY KEY, policy TEXT NOT NULL, updated_at INTEGER NOT NULL);
  CREATE TABLE reg_tokens (
    hash TEXT PRIMARY KEY,
    device_group TEXT NOT NULL,
    uses_left INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    device_group TEXT NOT NULL,
    public_key TEXT NOT NULL UNIQUE,
    facts TEXT NOT NULL,
    agent_version TEXT NOT NULL,
    registered_at INTEGER NOT NULL,
    revoked_at INTEGER,
    last_seen_at INTEGER,
    acked_revision INTEGER NOT NULL DEFAULT 0
  );
  CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    device_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    user TEXT NOT NULL,
    service TEXT NOT NULL,
    outcome TEXT NOT NULL,
    rhost TEXT,
    tty TEXT,
    reason TEXT,
    received_at INTEGER NOT NULL
  );
  CREATE INDEX events_user_at ON events (user, at);
  CREATE INDEX events_device_at ON events (device_id, at);
  CREATE INDEX events_at ON events (at);
  CREATE TABLE changes (
    revision INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    before TEXT,
    after TEXT,
    at INTEGER NOT NULL
  );
  `,
  // 2 (portal): user roles (admins get five portal sign-in attempts) and recovery codes, stored
  // only as slow hashes, keyed by their public id (the hash's salt).
  `
  ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'user';
  CREATE TABLE recovery_codes (
    user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    id TEXT NOT NULL,
    hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user, id)
  );
  `,
  // 3: which recovery code a login used (LoginEvent.recoveryCodeId), kept with the event.
  `ALTER TABLE events ADD COLUMN recovery_code_id TEXT;`,
  // 4: events are unique per (device, id), not per id: with a global key one device could store
  // an event under an id another device will use and so suppress that device's event.
  `
  CREATE TABLE events_v4 (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    user TEXT NOT NULL,
    service TEXT NOT NULL,
    outcome TEXT NOT NULL,
    rhost TEXT,
    tty TEXT,
    reason TEXT,
    received_at INTEGER NOT NULL,
    recovery_code_id TEXT,
    UNIQUE (device_id, id)
  );
  INSERT INTO events_v4 (seq, id, device_id, at, user, service, outcome, rhost, tty, reason, received_at, recovery_code_id)
    SELECT seq, id, device_id, at, user, service, outcome, rhost, tty, reason, received_at, recovery_code_id FROM events;
  DROP TABLE events;
  ALTER TABLE events_v4 RENAME TO events;
  CREATE INDEX events_user_at ON events (user, at);
  CREATE INDEX events_device_at ON events (device_id, at);
  CREATE INDEX events_at ON events (at);
  `,
  // 5 (replicas): the portal's sessions, sign-in counters and TOTP replay guard (store/portal-state.ts).
  PORTAL_TABLES,
  // 6 (issue 14, account guarantees): the fleet-wide replay guard (newest TOTP step accepted on
  // any device) and the account's attempt budget (consecutive failures over all devices, and
  // when the account lock started); events remember whether the budget has counted them, so a
  // resent event is counted once (server/store/account.ts).
  `
  ALTER TABLE users ADD COLUMN last_step INTEGER;
  ALTER TABLE users ADD COLUMN account_failures INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE users ADD COLUMN account_locked_at INTEGER;
  ALTER TABLE events ADD COLUMN account_counted INTEGER NOT NULL DEFAULT 0;
  `,
  // 7 (integrations): directory-managed users, small named state, users' mail addresses, the
  // enrollment-mail queue (links sealed) and one forwarding cursor per destination.
  INTEGRATION_TABLES,
  // 8 (signed): each device's event-chain head and the breaks found (server/store/chain.ts).
  CHAIN_MIGRATION,
  // 9 (console): admin accounts with their sign-in counter, their recovery codes, browser
  // sessions in the store (every replica sees them; realm: console or portal), the audit log.
  `
  CREATE TABLE admins (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    status TEXT NOT NULL,
    password_hash TEXT,
    totp_sealed TEXT,
    pending_sealed TEXT,
    setup_hash TEXT UNIQUE,
    setup_expires_at BIGINT,
    failures INTEGER NOT NULL DEFAULT 0,
    locked_at BIGINT,
    last_step BIGINT,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    last_signin_at BIGINT
  );
  CREATE TABLE admin_recovery_codes (
    admin TEXT NOT NULL REFERENCES admins(name) ON DELETE CASCADE,
    id TEXT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (admin, id)
  );
  CREATE TABLE web_sessions (
    id_hash TEXT PRIMARY KEY,
    realm TEXT NOT NULL,
    subject TEXT,
    csrf TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
  );
  CREATE INDEX web_sessions_subject ON web_sessions (realm, subject);
  CREATE TABLE audit (
    seq INTEGER PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    source TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL,
    result TEXT NOT NULL
  );
  CREATE INDEX audit_at ON audit (at);
  `,
];
