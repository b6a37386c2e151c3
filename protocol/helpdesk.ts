/**
 * Helpdesk codes (issue 15): the one derivation the server (issuing) and the agent (checking,
 * offline) share. No I/O.
 *
 * A code is 12 digits, shown `123-456-789-012` (3-digit groups, so it never has the shape of a
 * recovery code `xxxx-xxxx-xxxx` nor of a 6-8 digit TOTP code):
 *
 *   digits 1-4   the expiry minute (epoch minutes) mod 10000
 *   digits 5-12  HMAC-SHA256(deviceSecret, "idv-helpdesk-v1" NUL deviceId NUL user NUL
 *                expiryMinute), its first 8 bytes as a big-endian integer mod 10^8
 *
 * The device secret is 32 random bytes made by the server at registration and shared with that
 * one agent, so a code is bound to one device and one user. The agent finds the expiry minute
 * as the only one matching the 4 digits in the 10000 minutes ending AHEAD_MINUTES after now:
 * one ahead of now is a live code, one at or before now an expired one (said so at the prompt).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const HELPDESK_SECRET_BYTES = 32;
export const HELPDESK_DEFAULT_SECONDS = 15 * 60;
export const HELPDESK_MIN_SECONDS = 60;
export const HELPDESK_MAX_SECONDS = 24 * 3600;

const MINUTE_MS = 60_000;
const MODULUS = 10_000;
/** The longest validity, its rounding up to a whole minute, and a little clock slack. */
export const AHEAD_MINUTES = HELPDESK_MAX_SECONDS / 60 + 5;

/**
 * The account-wide cap on helpdesk guesses (docs/agent.md, "A bad day"): while the server's
 * account lock holds, helpdesk codes are judged only until the account's failure count (over
 * every device, since its last success) reaches twice `accountMaxFailures` — the lock's own
 * budget once more. After that no code is judged for the user anywhere until an admin unlocks.
 */
export function helpdeskAccountCap(accountMaxFailures: number): number {
  return 2 * accountMaxFailures;
}

/** A helpdesk code as the socket carries it (after normalizeHelpdeskCode): 12 digits. */
export const HELPDESK_CODE_RE = /^[0-9]{12}$/;
/** As shown and typed: 3-digit groups with dashes, or the 12 digits alone (spaces removed). */
const TYPED_RE = /^[0-9]{3}-[0-9]{3}-[0-9]{3}-[0-9]{3}$/;

/** The 8 digits bound to device, user and expiry minute. */
export function helpdeskMac(
  secret: Buffer,
  deviceId: string,
  user: string,
  expiryMinute: number,
): string {
  const mac = createHmac('sha256', secret)
    .update(`idv-helpdesk-v1\0${deviceId}\0${user}\0${expiryMinute}`, 'utf8')
    .digest();
  return (mac.readBigUInt64BE(0) % 100_000_000n).toString().padStart(8, '0');
}

/**
 * A code valid for at least `validSeconds` from `now` (the expiry is rounded up to the next whole
 * minute), as 12 digits, with its expiry in epoch ms.
 */
export function issueHelpdeskCode(
  secret: Buffer,
  deviceId: string,
  user: string,
  now: number,
  validSeconds: number,
): { code: string; expiresAt: number } {
  const expiryMinute = Math.ceil((now + validSeconds * 1000) / MINUTE_MS);
  const head = String(expiryMinute % MODULUS).padStart(4, '0');
  return {
    code: head + helpdeskMac(secret, deviceId, user, expiryMinute),
    expiresAt: expiryMinute * MINUTE_MS,
  };
}

/** `123456789012` → `123-456-789-012`. */
export function formatHelpdeskCode(code: string): string {
  return code.replace(/^(\d{3})(\d{3})(\d{3})(\d{3})$/, '$1-$2-$3-$4');
}

/** Turns a typed code (dashes between the groups or none, spaces anywhere) into 12 digits. */
export function normalizeHelpdeskCode(typed: string): string | null {
  const s = typed.replace(/[ \t]/g, '');
  if (HELPDESK_CODE_RE.test(s)) return s;
  return TYPED_RE.test(s) ? s.replace(/-/g, '') : null;
}

export type HelpdeskCheck =
  | { ok: true; expiresAt: number }
  | { ok: false; reason: 'mismatch' }
  | { ok: false; reason: 'expired'; expiresAt: number };

/**
 * Checks a 12-digit code for this device and user at `now` (constant-time comparison of the 8
 * MAC digits). `expired` only for a code that was genuinely issued and has run out.
 */
export function checkHelpdeskCode(
  secret: Buffer,
  deviceId: string,
  user: string,
  code: string,
  now: number,
): HelpdeskCheck {
  if (!HELPDESK_CODE_RE.test(code)) return { ok: false, reason: 'mismatch' };
  const head = Number(code.slice(0, 4));
  const nowMinute = Math.floor(now / MINUTE_MS);
  const base = nowMinute + AHEAD_MINUTES - MODULUS + 1;
  const minute = base + ((((head - base) % MODULUS) + MODULUS) % MODULUS);
  const expected = Buffer.from(helpdeskMac(secret, deviceId, user, minute), 'utf8');
  const typed = Buffer.from(code.slice(4), 'utf8');
  if (!timingSafeEqual(expected, typed)) return { ok: false, reason: 'mismatch' };
  const expiresAt = minute * MINUTE_MS;
  return now < expiresAt ? { ok: true, expiresAt } : { ok: false, reason: 'expired', expiresAt };
}
