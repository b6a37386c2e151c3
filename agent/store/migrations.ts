/**
 * The cache's schema, one entry per version (PRAGMA user_version). Append only.
 *
 * Users and their counters live in separate tables on purpose: a snapshot replaces the users
 * wholesale, and must never reset a failure count, a lockout or the replay guard.
 */
import { USED_HELPDESK_TABLE } from './helpdesk.js';

export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE TABLE users (
    name TEXT PRIMARY KEY,
    groups_json TEXT NOT NULL,
    status TEXT NOT NULL,
    grace_started_at INTEGER NOT NULL,
    unlocked_at INTEGER,
    enrolled INTEGER NOT NULL,
    sealed TEXT NOT NULL              -- AES-256-GCM({totp, recoveryCodes}), AAD = name
  );
  CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    failures INTEGER NOT NULL DEFAULT 0,
    last_failure_at INTEGER,
    locked_at INTEGER,
    locked_until INTEGER,             -- NULL with locked_at set: until unlocked
    last_step INTEGER                 -- replay guard: newest accepted TOTP time step
  );
  -- No AUTOINCREMENT and no index on id: each login's commit then touches only the counters row
  -- and one outbox page. Event ids are fresh UUIDs; deletes by id scan the (small) outbox.
  CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    body TEXT NOT NULL
  );
  `,
  // 2: recovery codes this device accepted. The server may keep listing a used code until it
  // has received the event (the device was offline), so the cache filters its hashes through
  // this table; an id is dropped once the server's record no longer lists it.
  `
  CREATE TABLE used_recovery (
    name TEXT NOT NULL,
    code_id TEXT NOT NULL,            -- recoveryCodeId(hash): the hash's salt, never the code
    used_at INTEGER NOT NULL,
    PRIMARY KEY (name, code_id)
  ) WITHOUT ROWID;
  `,
  // 3 (issue 14): the account lock the server pushes (accountMaxFailures reached over all
  // devices), part of the user's synced state like the rest of the row; server time, epoch ms.
  `ALTER TABLE users ADD COLUMN account_locked_at INTEGER;`,
  // 4: self-unlock (agent/policy/verify.ts): the step of the first of two consecutive codes
  // typed while locked out.
  `
  ALTER TABLE counters ADD COLUMN unlock_step INTEGER;
  `,
  // 5 (issue 15, clocks that drift, agent/policy/skew.ts): a code found only by the wide search
  // after a reboot, its step and offset in steps, waiting for the next step's code.
  `
  ALTER TABLE counters ADD COLUMN skew_step INTEGER;
  ALTER TABLE counters ADD COLUMN skew_offset INTEGER;
  `,
  // 6 (issue 15): helpdesk codes accepted here, until they expire (agent/store/helpdesk.ts).
  USED_HELPDESK_TABLE,
  // 7: a blob written and deleted to keep free pages for logins on a full disk (./reserve.ts).
  `CREATE TABLE reserve (b BLOB);`,
  // 8 (issue 22): while the account lock holds, the account's failures over all devices as the
  // server pushes them: the account-wide cap on helpdesk codes (agent/policy/helpdesk.ts).
  `ALTER TABLE users ADD COLUMN account_failures INTEGER NOT NULL DEFAULT 0;`,
];
