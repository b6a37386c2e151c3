/**
 * Recovery codes: one-time codes a user keeps on paper for when the phone is gone.
 *
 * A code is 12 characters of lower-case RFC 4648 base32 (a-z, 2-7) in three groups of four,
 * `xxxx-xxxx-xxxx` (CODE_RE in messages.ts): 60 random bits. Only slow hashes are stored — on the
 * server and in the agents' caches — as self-describing strings in the PHC format
 * `$scrypt$ln=14,r=8,p=1$<salt>$<hash>` (base64url), so the cost can be raised later without
 * breaking hashes already handed out. The salt doubles as the code's public identifier
 * (recoveryCodeId): an agent reports which code was used by it, never by the code itself.
 *
 * Pure: no I/O (scrypt is CPU work on libuv's pool).
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

export const RECOVERY_CODE_COUNT = 10;
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
const SALT_BYTES = 16;
const HASH_BYTES = 32;

/** scrypt cost: N = 2^14, r = 8 (16 MiB, tens of ms). 60 random bits make guessing hopeless. */
export const RECOVERY_SCRYPT = Object.freeze({ ln: 14, r: 8, p: 1 });

/** The form a code is shown and typed in. */
export const RECOVERY_CODE_RE = /^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$/;
const HASH_RE =
  /^\$scrypt\$ln=([0-9]{1,2}),r=([0-9]{1,2}),p=([0-9]{1,2})\$([A-Za-z0-9_-]{22})\$([A-Za-z0-9_-]{43})$/;

/** One fresh code, `xxxx-xxxx-xxxx`. */
export function generateRecoveryCode(): string {
  // 12 characters × 5 bits: each random byte's low 5 bits pick a letter (256 is a multiple of 32,
  // so there is no modulo bias).
  const bytes = randomBytes(12);
  let s = '';
  for (const b of bytes) s += ALPHABET[b & 31];
  return `${s.slice(0, 4)}-${s.slice(4, 8)}-${s.slice(8, 12)}`;
}

/** `count` distinct fresh codes. */
export function generateRecoveryCodes(count: number = RECOVERY_CODE_COUNT): string[] {
  const codes = new Set<string>();
  while (codes.size < count) codes.add(generateRecoveryCode());
  return [...codes];
}

/**
 * The canonical form of a code as a person may type it (upper case, spaces, dashes missing or
 * moved), or null when it cannot be a recovery code.
 */
export function normalizeRecoveryCode(input: string): string | null {
  if (input.length > 64) return null;
  const s = input.toLowerCase().replace(/[\s-]/g, '');
  if (!/^[a-z2-7]{12}$/.test(s)) return null;
  return `${s.slice(0, 4)}-${s.slice(4, 8)}-${s.slice(8, 12)}`;
}

function derive(code: string, salt: Buffer, ln: number, r: number, p: number): Promise<Buffer> {
  const N = 2 ** ln;
  return new Promise((resolve, reject) =>
    scrypt(code, salt, HASH_BYTES, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

/** The stored form of a code: `$scrypt$ln=14,r=8,p=1$<salt>$<hash>`. */
export async function hashRecoveryCode(
  code: string,
  cost: { ln: number; r: number; p: number } = RECOVERY_SCRYPT,
): Promise<string> {
  const canonical = normalizeRecoveryCode(code);
  if (canonical === null) throw new TypeError('not a recovery code');
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(canonical, salt, cost.ln, cost.r, cost.p);
  return `$scrypt$ln=${cost.ln},r=${cost.r},p=${cost.p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

interface ParsedHash {
  ln: number;
  r: number;
  p: number;
  salt: Buffer;
  key: Buffer;
  id: string;
}

function parseHash(hash: string): ParsedHash | null {
  const m = HASH_RE.exec(hash);
  if (!m) return null;
  const [ln, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  // Refuse costs that would stall or exhaust the verifier (a hash is data from the network).
  if (ln < 10 || ln > 20 || r < 1 || r > 32 || p < 1 || p > 4) return null;
  return {
    ln,
    r,
    p,
    salt: Buffer.from(m[4] as string, 'base64url'),
    key: Buffer.from(m[5] as string, 'base64url'),
    id: m[4] as string,
  };
}

/** True when the string is a recovery-code hash this module can verify. */
export function isRecoveryHash(hash: string): boolean {
  return parseHash(hash) !== null;
}

/** The public identifier of a hashed code (its salt, base64url); null for a malformed hash. */
export function recoveryCodeId(hash: string): string | null {
  return parseHash(hash)?.id ?? null;
}

/** True when `code` matches `hash` (constant-time comparison); false for malformed input. */
export async function verifyRecoveryCode(code: string, hash: string): Promise<boolean> {
  const canonical = normalizeRecoveryCode(code);
  const parsed = parseHash(hash);
  if (canonical === null || parsed === null) return false;
  const key = await derive(canonical, parsed.salt, parsed.ln, parsed.r, parsed.p);
  return key.length === parsed.key.length && timingSafeEqual(key, parsed.key);
}

/**
 * The index in `hashes` of the one `code` matches, or -1. Every hash is tried (in parallel on
 * the thread pool), so the time taken does not tell which one matched.
 */
export async function findRecoveryCode(code: string, hashes: readonly string[]): Promise<number> {
  if (normalizeRecoveryCode(code) === null) return -1;
  const results = await Promise.all(hashes.map((h) => verifyRecoveryCode(code, h)));
  return results.indexOf(true);
}
