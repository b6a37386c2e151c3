/**
 * Admin passwords: checked against a minimum length and a list of common passwords (NIST SP
 * 800-63B §5.1.1.2: a blocklist, no composition rules), stored as scrypt with its parameters in
 * the hash (`scrypt$ln=15,r=8,p=1$SALT$KEY`), compared in constant time.
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { COMMON_PASSWORDS } from './common-passwords.js';

export const PASSWORD_MIN = 12;
export const PASSWORD_MAX = 256;
const LN = 15;
const R = 8;
const P = 1;
const KEY_BYTES = 32;

function scrypt(password: string, salt: Buffer, o: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scryptCb(password.normalize('NFKC'), salt, KEY_BYTES, o, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

const maxmem = (ln: number, r: number) => 256 * 2 ** ln * r;

/** Why this password is refused, or null when it may be used. */
export function passwordProblem(password: string, name: string): string | null {
  const chars = [...password];
  if (chars.length < PASSWORD_MIN) return `Use at least ${PASSWORD_MIN} characters.`;
  if (chars.length > PASSWORD_MAX) return `Use at most ${PASSWORD_MAX} characters.`;
  const lower = password.toLowerCase();
  // Common passwords, also with a year or a few digits and symbols stuck on the end.
  const stem = lower.replace(/[\d\W_]+$/u, '');
  if (COMMON_PASSWORDS.has(lower) || COMMON_PASSWORDS.has(stem))
    return 'That password is on the list of the most common passwords. Choose another.';
  if (new Set(chars).size < 5) return 'Use more different characters.';
  if (lower.includes(name.toLowerCase()) || lower.includes('idv'))
    return 'Do not use your name or the product name in the password.';
  return null;
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, { N: 2 ** LN, r: R, p: P, maxmem: maxmem(LN, R) });
  return `scrypt$ln=${LN},r=${R},p=${P}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

const HASH_RE =
  /^scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d)\$([A-Za-z0-9_-]{16,64})\$([A-Za-z0-9_-]{32,128})$/;

/** True when `password` matches `stored`; false for a malformed hash (never throws on input). */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const m = HASH_RE.exec(stored);
  if (!m || [...password].length > PASSWORD_MAX) return false;
  const [ln, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (ln < 10 || ln > 20 || r < 1 || r > 16 || p < 1 || p > 4) return false;
  const expected = Buffer.from(m[5] as string, 'base64url');
  const key = await scrypt(password, Buffer.from(m[4] as string, 'base64url'), {
    N: 2 ** ln,
    r,
    p,
    maxmem: maxmem(ln, r),
  });
  return key.length === expected.length && timingSafeEqual(key, expected);
}

let decoy: Promise<string> | null = null;

/** Spends the same scrypt time as a real check (unknown names must not answer faster). */
export async function verifyDecoy(password: string): Promise<false> {
  await verifyPassword(password, await (decoy ??= hashPassword(randomBytes(16).toString('hex'))));
  return false;
}
