/**
 * Encryption of the cache's secrets (TOTP secrets, recovery-code hashes) under the device's cache
 * key: AES-256-GCM, a fresh 96-bit IV per value, the user name as additional authenticated data so
 * that a sealed value copied onto another user's row fails to open.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { IdvError } from '../../protocol/errors.js';
import { readPrivateFile, writePrivateFile } from '../../protocol/io/files.js';

export const CACHE_KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const PREFIX = 'v1.';

export class CacheCipher {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== CACHE_KEY_BYTES) {
      throw new IdvError('CONFIG_INVALID', `the cache key must be ${CACHE_KEY_BYTES} bytes`);
    }
    this.#key = Buffer.from(key);
  }

  /** `v1.` + base64(iv | tag | ciphertext). */
  seal(plaintext: string, aad: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    cipher.setAAD(Buffer.from(aad, 'utf8'));
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return PREFIX + Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64');
  }

  /** Throws INTERNAL when the value was tampered with, sealed for another name or another key. */
  open(sealed: string, aad: string): string {
    try {
      if (!sealed.startsWith(PREFIX)) throw new Error('unknown format');
      const raw = Buffer.from(sealed.slice(PREFIX.length), 'base64');
      const iv = raw.subarray(0, IV_BYTES);
      const tag = raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES);
      const decipher = createDecipheriv('aes-256-gcm', this.#key, iv);
      decipher.setAAD(Buffer.from(aad, 'utf8'));
      decipher.setAuthTag(tag);
      return Buffer.concat([
        decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)),
        decipher.final(),
      ]).toString('utf8');
    } catch {
      throw new IdvError(
        'INTERNAL',
        'a cached secret cannot be decrypted (wrong key or tampering)',
      );
    }
  }
}

/** Reads the cache key (refusing loose permissions), creating it (0600) when absent. */
export function loadOrCreateCacheKey(path: string): Buffer {
  if (!existsSync(path)) writePrivateFile(path, randomBytes(CACHE_KEY_BYTES));
  const key = readPrivateFile(path);
  if (key.length !== CACHE_KEY_BYTES) {
    throw new IdvError(
      'CONFIG_INVALID',
      `${path}: expected ${CACHE_KEY_BYTES} bytes, found ${key.length}`,
    );
  }
  return key;
}
