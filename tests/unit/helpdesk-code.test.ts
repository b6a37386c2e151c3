// The helpdesk code's derivation (protocol/helpdesk.ts) checked against an independent HMAC:
// `openssl dgst -sha256 -mac HMAC`, with the reduction to digits written out here.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  HELPDESK_MAX_SECONDS,
  checkHelpdeskCode,
  formatHelpdeskCode,
  helpdeskMac,
  issueHelpdeskCode,
  normalizeHelpdeskCode,
} from '../../protocol/helpdesk.js';
import { CODE_RE } from '../../protocol/messages.js';
import { RECOVERY_CODE_RE } from '../../protocol/recovery.js';
import { missing } from '../helpers/require.js';

const SECRET = Buffer.from(
  '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f',
  'hex',
);
const DEVICE = '6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f';

function opensslDigits(key: Buffer, message: string): string {
  const out = execFileSync(
    'openssl',
    ['dgst', '-sha256', '-mac', 'HMAC', '-macopt', `hexkey:${key.toString('hex')}`, '-r'],
    { input: Buffer.from(message, 'utf8'), encoding: 'utf8' },
  );
  const hex = out.slice(0, 16);
  return (BigInt(`0x${hex}`) % 100000000n).toString().padStart(8, '0');
}

describe.skipIf(missing({ commands: ['openssl'] }))('helpdesk code vs openssl', () => {
  it.each([
    ['alice', 29_600_000],
    ['bob', 29_612_345],
    ['Ünïcødé', 1],
  ])('the 8 MAC digits for %s at minute %i', (user, minute) => {
    expect(helpdeskMac(SECRET, DEVICE, user, minute)).toBe(
      opensslDigits(SECRET, `idv-helpdesk-v1\0${DEVICE}\0${user}\0${minute}`),
    );
  });

  it('a fixed vector: the issued code is the expiry minute mod 10000, then the MAC digits', () => {
    const now = Date.UTC(2026, 11, 2, 3, 0, 0); // 3 a.m.
    const { code, expiresAt } = issueHelpdeskCode(SECRET, DEVICE, 'alice', now, 900);
    const minute = now / 60_000 + 15;
    expect(expiresAt).toBe(now + 900_000);
    expect(code).toBe(
      String(minute % 10_000).padStart(4, '0') +
        opensslDigits(SECRET, `idv-helpdesk-v1\0${DEVICE}\0alice\0${minute}`),
    );
  });
});

describe('helpdesk code rules', () => {
  const now = Date.UTC(2026, 11, 2, 3, 0, 17);

  it('rounds the expiry up to a whole minute and is accepted until then', () => {
    const { code, expiresAt } = issueHelpdeskCode(SECRET, DEVICE, 'alice', now, 60);
    expect(expiresAt).toBe(Date.UTC(2026, 11, 2, 3, 2, 0));
    expect(checkHelpdeskCode(SECRET, DEVICE, 'alice', code, now)).toEqual({ ok: true, expiresAt });
    expect(checkHelpdeskCode(SECRET, DEVICE, 'alice', code, expiresAt - 1).ok).toBe(true);
    expect(checkHelpdeskCode(SECRET, DEVICE, 'alice', code, expiresAt)).toEqual({
      ok: false,
      reason: 'expired',
      expiresAt,
    });
    // Days later (up to about 5.9) it still reads as expired, never as a fresh code.
    expect(checkHelpdeskCode(SECRET, DEVICE, 'alice', code, expiresAt + 5 * 86_400_000)).toEqual({
      ok: false,
      reason: 'expired',
      expiresAt,
    });
  });

  it('a 24 h code is accepted at once and until its end', () => {
    const { code, expiresAt } = issueHelpdeskCode(
      SECRET,
      DEVICE,
      'alice',
      now,
      HELPDESK_MAX_SECONDS,
    );
    expect(checkHelpdeskCode(SECRET, DEVICE, 'alice', code, now).ok).toBe(true);
    expect(checkHelpdeskCode(SECRET, DEVICE, 'alice', code, expiresAt - 1000).ok).toBe(true);
  });

  it('is bound to the user, the device and the secret', () => {
    const { code } = issueHelpdeskCode(SECRET, DEVICE, 'alice', now, 900);
    const other = Buffer.alloc(32, 7);
    expect(checkHelpdeskCode(SECRET, DEVICE, 'alicf', code, now).ok).toBe(false);
    expect(checkHelpdeskCode(SECRET, DEVICE.replace('6f', '6e'), 'alice', code, now).ok).toBe(
      false,
    );
    expect(checkHelpdeskCode(other, DEVICE, 'alice', code, now).ok).toBe(false);
    const flipped = code.slice(0, 11) + String((Number(code[11]) + 1) % 10);
    expect(checkHelpdeskCode(SECRET, DEVICE, 'alice', flipped, now)).toEqual({
      ok: false,
      reason: 'mismatch',
    });
  });

  it('is typed with or without dashes, spaces ignored, and shaped like no other code', () => {
    const { code } = issueHelpdeskCode(SECRET, DEVICE, 'alice', now, 900);
    const shown = formatHelpdeskCode(code);
    expect(shown).toMatch(/^\d{3}-\d{3}-\d{3}-\d{3}$/);
    expect(normalizeHelpdeskCode(shown)).toBe(code);
    expect(normalizeHelpdeskCode(` ${shown.replace(/-/g, ' ')} `)).toBe(code);
    expect(normalizeHelpdeskCode(code)).toBe(code);
    for (const bad of ['1234-5678-9012', '123-456-789-01', '123-456-789-0123', '12345678901a'])
      expect(normalizeHelpdeskCode(bad)).toBeNull();
    expect(CODE_RE.test(code)).toBe(true);
    expect(RECOVERY_CODE_RE.test(shown)).toBe(false);
    expect(/^[0-9]{6,8}$/.test(code)).toBe(false);
  });
});
