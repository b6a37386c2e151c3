// Cross-checks the project's TOTP rule against an independent implementation: oathtool from the
// Debian package of the same name (OATH Toolkit, C).
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateCode, verifyCode, type Algorithm } from '../../protocol/totp.js';
import { missing } from '../helpers/require.js';

const skip = missing({ commands: ['oathtool'] });

function oathtool(
  secret: string,
  algorithm: Algorithm,
  digits: number,
  period: number,
  seconds: number,
): string {
  return execFileSync(
    'oathtool',
    [
      `--totp=${algorithm.toLowerCase()}`,
      '-b',
      '-d',
      String(digits),
      '-s',
      `${period}s`,
      '-N',
      `@${seconds}`,
      secret,
    ],
    { encoding: 'utf8' },
  ).trim();
}

/** RFC 4648 base32 without padding, written here so the test does not lean on the code under test. */
function base32(bytes: Uint8Array): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}

describe.skipIf(skip)(`oathtool cross-check${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it('agrees on 240 random secrets × times × algorithms × digit counts × periods', () => {
    const cases = fc.sample(
      fc.record({
        secret: fc.uint8Array({ minLength: 16, maxLength: 64 }).map(base32),
        algorithm: fc.constantFrom<Algorithm>('SHA1', 'SHA256', 'SHA512'),
        digits: fc.constantFrom<6 | 8>(6, 8),
        period: fc.constantFrom(30, 30, 60, 15),
        seconds: fc.integer({ min: 0, max: 4_102_444_800 }), // up to 2100
      }),
      { numRuns: 240, seed: Date.now() % 1e9 },
    );
    const combos = new Set<string>();
    for (const c of cases) {
      const ours = generateCode({ ...c }, c.seconds * 1000);
      const theirs = oathtool(c.secret, c.algorithm, c.digits, c.period, c.seconds);
      expect(ours, JSON.stringify({ ...c, secret: `${c.secret.length} chars` })).toBe(theirs);
      // and our verifier accepts the independent implementation's code at that time, at its step
      expect(verifyCode(c, theirs, c.seconds * 1000, 0)).toEqual({
        ok: true,
        step: Math.floor(c.seconds / c.period),
      });
      combos.add(`${c.algorithm}/${c.digits}`);
    }
    expect(combos.size).toBe(6); // every algorithm × digit count was exercised
  });
});
