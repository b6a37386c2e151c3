/**
 * Secrets at rest: AES-256-GCM under the data dir's master key, and hashes for bearer tokens.
 *
 * Tokens (admin, registration, enrollment) are 32 random bytes, so a plain SHA-256 is enough to
 * make a stolen database useless for logging in (no dictionary to attack); lookups go by hash
 * and the final comparison is constant-time.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { IdvError } from '../../protocol/errors.js';

export const MASTER_KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const FORMAT = 'v1';

/** Encrypts and decrypts small secrets bound to a context (AAD), e.g. the user name. */
export class SecretBox {
  constructor(private readonly key: Buffer) {
    if (key.length !== MASTER_KEY_BYTES) {
      throw new IdvError('CONFIG_INVALID', `the master key must be ${MASTER_KEY_BYTES} bytes`);
    }
  }

  /** `v1.<iv>.<ciphertext+tag>`, base64url parts. */
  seal(plaintext: string, context: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([
      cipher.update(plaintext, 'utf8'),
      cipher.final(),
      cipher.getAuthTag(),
    ]);
    return `${FORMAT}.${iv.toString('base64url')}.${body.toString('base64url')}`;
  }

  /** Throws INTERNAL when the data was tampered with or sealed under another key or context. */
  open(sealed: string, context: string): string {
    const [format, ivText, bodyText] = sealed.split('.');
    if (format !== FORMAT || !ivText || !bodyText)
      throw new IdvError('INTERNAL', 'sealed secret has an unknown format');
    const iv = Buffer.from(ivText, 'base64url');
    const body = Buffer.from(bodyText, 'base64url');
    if (iv.length !== IV_BYTES || body.length < TAG_BYTES)
      throw new IdvError('INTERNAL', 'sealed secret is truncated');
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, iv);
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
      return Buffer.concat([
        decipher.update(body.subarray(0, body.length - TAG_BYTES)),
        decipher.final(),
      ]).toString('utf8');
    } catch (err) {
      throw new IdvError('INTERNAL', 'a sealed secret failed authentication (wrong master key?)', {
        cause: err,
      });
    }
  }
}

/**
 * A fresh bearer token: `idv_` + 32 random bytes in base64url. The prefix lets secret scanners
 * find leaked tokens and keeps a token from ever starting with `-` on a command line.
 */
export function newToken(): string {
  return `idv_${randomBytes(32).toString('base64url')}`;
}

/** The stored form of a token. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Constant-time equality of two hex hashes of the same length. */
export function hashesEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}
