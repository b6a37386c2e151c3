import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CODE_RE } from '../../protocol/messages.js';
import {
  RECOVERY_CODE_COUNT,
  findRecoveryCode,
  generateRecoveryCodes,
  hashRecoveryCode,
  isRecoveryHash,
  normalizeRecoveryCode,
  recoveryCodeId,
  verifyRecoveryCode,
} from '../../protocol/recovery.js';

describe('recovery codes', () => {
  it('generates ten distinct codes that the local channel accepts as typed', () => {
    const codes = generateRecoveryCodes();
    expect(codes).toHaveLength(RECOVERY_CODE_COUNT);
    expect(new Set(codes).size).toBe(RECOVERY_CODE_COUNT);
    for (const c of codes) {
      expect(c).toMatch(/^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$/);
      expect(CODE_RE.test(c)).toBe(true);
    }
  });

  it('uses the whole alphabet (no bias toward a few letters)', () => {
    const letters = new Set(generateRecoveryCodes(200).join('').replace(/-/g, ''));
    expect(letters.size).toBe(32);
  });

  it('hashes to a self-describing string that holds neither the code nor its letters', async () => {
    const [code] = generateRecoveryCodes(1) as [string];
    const hash = await hashRecoveryCode(code);
    expect(hash).toMatch(/^\$scrypt\$ln=14,r=8,p=1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(hash).not.toContain(code);
    expect(hash).not.toContain(code.replace(/-/g, ''));
    expect(isRecoveryHash(hash)).toBe(true);
    // Same code, fresh salt: a different hash (and id) every time.
    const again = await hashRecoveryCode(code);
    expect(again).not.toBe(hash);
    expect(recoveryCodeId(again)).not.toBe(recoveryCodeId(hash));
  });

  it('verifies the right code, typed loosely, and refuses any other', async () => {
    const [code, other] = generateRecoveryCodes(2) as [string, string];
    const hash = await hashRecoveryCode(code);
    expect(await verifyRecoveryCode(code, hash)).toBe(true);
    expect(await verifyRecoveryCode(code.toUpperCase(), hash)).toBe(true);
    expect(await verifyRecoveryCode(` ${code.replace(/-/g, ' ')} `, hash)).toBe(true);
    expect(await verifyRecoveryCode(other, hash)).toBe(false);
    expect(await verifyRecoveryCode('123456', hash)).toBe(false);
    expect(await verifyRecoveryCode('', hash)).toBe(false);
  });

  it('finds which of the stored hashes a code matches', async () => {
    const codes = generateRecoveryCodes(4);
    const hashes = await Promise.all(codes.map((c) => hashRecoveryCode(c)));
    expect(await findRecoveryCode(codes[2] as string, hashes)).toBe(2);
    expect(await findRecoveryCode(generateRecoveryCodes(1)[0] as string, hashes)).toBe(-1);
    expect(await findRecoveryCode('not a code', hashes)).toBe(-1);
    expect(await findRecoveryCode(codes[0] as string, [])).toBe(-1);
  });

  it('raising the cost later keeps old hashes verifiable', async () => {
    const [code] = generateRecoveryCodes(1) as [string];
    const cheap = await hashRecoveryCode(code, { ln: 10, r: 8, p: 1 });
    expect(cheap.startsWith('$scrypt$ln=10,r=8,p=1$')).toBe(true);
    expect(await verifyRecoveryCode(code, cheap)).toBe(true);
  });

  it('refuses malformed or hostile hashes (huge cost parameters) without throwing', async () => {
    const [code] = generateRecoveryCodes(1) as [string];
    const good = await hashRecoveryCode(code);
    const hostile = good.replace('ln=14', 'ln=30');
    expect(isRecoveryHash(hostile)).toBe(false);
    expect(await verifyRecoveryCode(code, hostile)).toBe(false);
    for (const bad of ['', 'plain', good.slice(0, -1), `${good}x`, good.replace('scrypt', 'md5')]) {
      expect(await verifyRecoveryCode(code, bad)).toBe(false);
      expect(recoveryCodeId(bad)).toBeNull();
    }
  });

  it('normalizes only what can be a code', () => {
    expect(normalizeRecoveryCode('ABCD EFGH 2345')).toBe('abcd-efgh-2345');
    expect(normalizeRecoveryCode('abcdefgh2345')).toBe('abcd-efgh-2345');
    expect(normalizeRecoveryCode('abcd-efgh-2340')).toBeNull(); // 0 is not base32
    expect(normalizeRecoveryCode('abcd-efgh-234')).toBeNull();
    expect(normalizeRecoveryCode('x'.repeat(100))).toBeNull();
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (s) => {
        const n = normalizeRecoveryCode(s);
        return n === null || CODE_RE.test(n);
      }),
    );
  });
});
