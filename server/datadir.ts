/**
 * The data directory D (0700): master.key (32 random bytes, 0600) and, with SQLite, idv.db. With
 * PostgreSQL (`--database URL`) the data lives in the database and D holds the key and local
 * config only (and signing.json, the policy signing key, 0600: server/signingkey.ts): every
 * replica runs with a copy of the folder `init` made.
 * `init` creates the key, the schema and the first admin token; `open` refuses a missing or loose
 * directory, and a key that is not the one the database was initialised with.
 */
import { chmodSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createHmac, randomBytes } from 'node:crypto';
import { IdvError } from '../protocol/errors.js';
import {
  ensurePrivateDir,
  modeOf,
  readPrivateFile,
  writePrivateFile,
} from '../protocol/io/files.js';
import { createSigningKey } from './signingkey.js';
import { MASTER_KEY_BYTES, SecretBox, hashToken, newToken } from './store/crypto.js';
import { SETUP_TTL_SECONDS } from './http/admins.js';
import { redactDatabaseUrl } from './store/db-postgres.js';
import { openDb, openStore, type OpenStoreOptions, type StoreLocation } from './store/open.js';
import type { SqlStore } from './store/sql-store.js';

export const DB_FILE = 'idv.db';
export const KEY_FILE = 'master.key';

export interface DataDirOptions extends OpenStoreOptions {
  /** A postgres:// URL; absent: SQLite in the data dir. */
  database?: string | undefined;
}

function locationOf(dir: string, database: string | undefined): StoreLocation {
  return database ? { postgres: database } : { sqlite: join(dir, DB_FILE) };
}

/** 48 bits of an HMAC of the key: tells a wrong key from the right one, reveals nothing. */
function keyFingerprint(key: Buffer): number {
  return createHmac('sha256', key).update('idv master key check').digest().readUIntBE(0, 6);
}

async function checkKey(store: SqlStore, key: Buffer, dir: string): Promise<void> {
  if ((await store.checkMasterKey(keyFingerprint(key))) === 'mismatch') {
    throw new IdvError(
      'CONFIG_INVALID',
      `${join(dir, KEY_FILE)} is not the master key this database was initialised with (copy the data folder that init made)`,
    );
  }
}

/**
 * Creates a fresh data directory; returns the first admin token and the first console admin's
 * set-up token (both shown once, stored hashed).
 */
export async function initDataDir(
  dir: string,
  now: number,
  options: DataDirOptions & { firstAdmin?: string } = {},
): Promise<{ token: string; setupToken: string }> {
  const firstAdmin = options.firstAdmin ?? 'admin';
  if (existsSync(join(dir, KEY_FILE)) || existsSync(join(dir, DB_FILE))) {
    throw new IdvError('ALREADY_INITIALIZED', `${dir} is already initialised`);
  }
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    throw new IdvError('ALREADY_INITIALIZED', `${dir} is not empty; give a new or empty directory`);
  }
  const location = locationOf(dir, options.database);
  if ('postgres' in location) {
    // Before any file is written: an initialised database keeps its key (and its data).
    const db = await openDb(location, options);
    try {
      if ((await db.schemaVersion()) > 0) {
        throw new IdvError(
          'ALREADY_INITIALIZED',
          `the database ${redactDatabaseUrl(location.postgres)} is already initialised; a new replica needs a copy of the first data folder, not init`,
        );
      }
    } finally {
      await db.close();
    }
  }
  const created = !existsSync(dir);
  ensurePrivateDir(dir);
  const key = randomBytes(MASTER_KEY_BYTES);
  writePrivateFile(join(dir, KEY_FILE), key);
  try {
    createSigningKey(dir);
    const store = await openStore(location, new SecretBox(key), options);
    // SQLite creates its -wal/-shm files with the database's mode: make that owner-only.
    if ('sqlite' in location) chmodSync(location.sqlite, 0o600);
    const token = newToken();
    const setupToken = newToken();
    try {
      await checkKey(store, key, dir);
      await store.addAdminToken(hashToken(token), now);
      await store.admins.create(
        firstAdmin,
        'admin',
        { tokenHash: hashToken(setupToken), expiresAt: now + SETUP_TTL_SECONDS * 1000 },
        'local',
        now,
      );
      await store.audit.append({
        at: now,
        actor: 'local',
        role: 'admin',
        source: 'local',
        action: 'admin.add',
        target: firstAdmin,
        detail: { role: 'admin', by: 'idv-server init' },
        result: 'ok',
      });
    } finally {
      await store.close();
    }
    return { token, setupToken };
  } catch (err) {
    // Nothing half-made stays behind: init can simply be run again.
    for (const f of [KEY_FILE, 'signing.json', DB_FILE, `${DB_FILE}-wal`, `${DB_FILE}-shm`])
      rmSync(join(dir, f), { force: true });
    if (created) rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Opens an initialised data directory (and its database), checking permissions and key. */
export async function openDataDir(dir: string, options: DataDirOptions = {}): Promise<SqlStore> {
  const mode = modeOf(dir);
  const location = locationOf(dir, options.database);
  const marker = 'sqlite' in location ? location.sqlite : join(dir, KEY_FILE);
  if (mode === null || !existsSync(marker)) {
    const how =
      'postgres' in location
        ? `run: idv-server init --database URL --data-dir ${dir} (once), or copy the data folder init made`
        : `run: idv-server init --data-dir ${dir}`;
    throw new IdvError('NOT_INITIALIZED', `${dir} is not initialised; ${how}`);
  }
  if ((mode & 0o077) !== 0) {
    throw new IdvError('PERMISSION', `${dir} is mode ${mode.toString(8)}; it must be 0700`);
  }
  const key = readPrivateFile(join(dir, KEY_FILE));
  const store = await openStore(location, new SecretBox(key), options);
  try {
    await checkKey(store, key, dir);
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}
