/**
 * The cache's part of helpdesk codes (issue 15, protocol/helpdesk.ts): the device's helpdesk
 * secret, kept in `meta` sealed under the cache key like the users' secrets, and the codes
 * already used here, kept until they expire so that each is accepted once.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { HELPDESK_SECRET_BYTES } from '../../protocol/helpdesk.js';
import type { CacheCipher } from './crypto.js';

/** The meta key of the sealed secret. */
export const HELPDESK_META = 'helpdesk';

/** What checking a code needs: this device's id (bound into every code) and its secret. */
export interface HelpdeskKey {
  deviceId: string;
  secret: Buffer;
}

/** A helpdesk code accepted here: written in the login's transaction, with its event. */
export interface UsedHelpdesk {
  /** SHA-256 of the code (never the code). */
  codeHash: string;
  /** When the code expires: the row is useless after it, and dropped. */
  expiresAt: number;
  at: number;
}

const metaSchema = z.strictObject({ deviceId: z.uuid(), sealed: z.string().min(1) });

const aad = (deviceId: string): string => `helpdesk:${deviceId}`;

export function sealHelpdeskKey(cipher: CacheCipher, key: HelpdeskKey): unknown {
  return {
    deviceId: key.deviceId,
    sealed: cipher.seal(key.secret.toString('base64url'), aad(key.deviceId)),
  };
}

/** The key from its meta value; null when there is none (registered before helpdesk codes). */
export function openHelpdeskKey(cipher: CacheCipher, value: unknown): HelpdeskKey | null {
  if (value === undefined || value === null) return null;
  const m = metaSchema.parse(value);
  const secret = Buffer.from(cipher.open(m.sealed, aad(m.deviceId)), 'base64url');
  return secret.length === HELPDESK_SECRET_BYTES ? { deviceId: m.deviceId, secret } : null;
}

export function helpdeskCodeHash(code: string): string {
  return createHash('sha256').update(code, 'utf8').digest('hex');
}

/** Migration 5 of the cache (agent/store/migrations.ts). */
export const USED_HELPDESK_TABLE = `
  CREATE TABLE used_helpdesk (
    name TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER NOT NULL,
    PRIMARY KEY (name, code_hash)
  ) WITHOUT ROWID;
`;
