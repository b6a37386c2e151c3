/**
 * The data directory: D (0700) holding idv.db, master.key (32 random bytes, 0600) and
 * signing.json (the policy signing key, 0600: server/signingkey.ts).
 * `init` creates both and the first admin token; `open` refuses a missing or loose directory.
 */
import { chmodSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
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
import { SqliteStore, type SqliteStoreOptions } from './store/sqlite.js';

export const DB_FILE = 'idv.db';
export const KEY_FILE = 'master.key';

/**
 * Creates a fresh data directory; returns the first admin token and the first console admin's
 * set-up token (both shown once, stored hashed).
 */
export async function initDataDir(
  dir: string,
  now: number,
  firstAdmin = 'admin',
): Promise<{ token: string; setupToken: string }> {
  if (existsSync(join(dir, KEY_FILE)) || existsSync(join(dir, DB_FILE))) {
    throw new IdvError('ALREADY_INITIALIZED', `${dir} is already initialised`);
  }
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    throw new IdvError('ALREADY_INITIALIZED', `${dir} is not empty; give a new or empty directory`);
  }
  ensurePrivateDir(dir);
  const key = randomBytes(MASTER_KEY_BYTES);
  writePrivateFile(join(dir, KEY_FILE), key);
  createSigningKey(dir);
  const store = await SqliteStore.open(join(dir, DB_FILE), new SecretBox(key));
  // SQLite creates its -wal/-shm files with the database's mode: make that owner-only.
  chmodSync(join(dir, DB_FILE), 0o600);
  const token = newToken();
  const setupToken = newToken();
  try {
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
}

/** Opens an initialised data directory, checking its permissions first. */
export async function openDataDir(
  dir: string,
  options: SqliteStoreOptions = {},
): Promise<SqliteStore> {
  const mode = modeOf(dir);
  if (mode === null || !existsSync(join(dir, DB_FILE))) {
    throw new IdvError(
      'NOT_INITIALIZED',
      `${dir} is not initialised; run: idv-server init --data-dir ${dir}`,
    );
  }
  if ((mode & 0o077) !== 0) {
    throw new IdvError('PERMISSION', `${dir} is mode ${mode.toString(8)}; it must be 0700`);
  }
  const box = new SecretBox(readPrivateFile(join(dir, KEY_FILE)));
  return SqliteStore.open(join(dir, DB_FILE), box, options);
}
