import { describe, expect, it } from 'vitest';
import {
  buildOtpauthUri,
  generateCode,
  generateSecret,
  groupSecret,
  newTotpParams,
  parseOtpauthUri,
  timeStep,
  verifyCode,
  type Algorithm,
} from '../../protocol/totp.js';

const enc = new TextEncoder();
// RFC 6238 Appendix B: the seeds are ASCII strings of 20, 32 and 64 bytes.
const SEEDS: Record<Algorithm, Uint8Array> = {
  SHA1: enc.encode('12345678901234567890'),
  SHA256: enc.encode('12345678901234567890123456789012'),
  SHA512: enc.encode('1234567890123456789012345678901234567890123456789012345678901234'),
};
const VECTORS: [number, Record<Algorithm, string>][] = [
  [59, { SHA1: '94287082', SHA256: '46119246', SHA512: '90693936' }],
  [1111111109, { SHA1: '07081804', SHA256: '68084774', SHA512: '25091201' }],
  [1111111111, { SHA1: '14050471', SHA256: '67062674', SHA512: '99943326' }],
  [1234567890, { SHA1: '89005924', SHA256: '91819424', SHA512: '93441116' }],
  [2000000000, { SHA1: '69279037', SHA256: '90698825', SHA512: '38618901' }],
  [20000000000, { SHA1: '65353130', SHA256: '77737706', SHA512: '47863826' }],
];

describe('RFC 6238 Appendix B', () => {
  for (const [seconds, codes] of VECTORS) {
    for (const algorithm of ['SHA1', 'SHA256', 'SHA512'] as const) {
      it(`${algorithm} at T=${seconds} is ${codes[algorithm]}`, () => {
        const params = { secret: SEEDS[algorithm], algorithm, digits: 8 as const, period: 30 };
        expect(generateCode(params, seconds * 1000)).toBe(codes[algorithm]);
        const outcome = verifyCode(params, codes[algorithm], seconds * 1000, 0);
        expect(outcome).toEqual({ ok: true, step: Math.floor(seconds / 30) });
      });
    }
  }
});

describe('verification window', () => {
  const params = newTotpParams();
  const now = 1_700_000_015_000; // mid-step
  const step = timeStep(now);

  for (const window of [0, 1, 2, 3]) {
    it(`window ${window}: exactly ±${window} steps accepted, ±${window + 1} refused`, () => {
      for (let d = -window; d <= window; d++) {
        const code = generateCode(params, now + d * 30_000);
        const outcome = verifyCode(params, code, now, window);
        // A code may collide with another step's code by chance (1 in 10^6): the step is what we check.
        expect(outcome).toEqual({ ok: true, step: step + d });
      }
      for (const d of [-(window + 1), window + 1]) {
        const code = generateCode(params, now + d * 30_000);
        const outcome = verifyCode(params, code, now, window);
        expect(outcome.ok).toBe(false);
      }
    });
  }

  it('edges of the step: the last and first second of a step', () => {
    const start = step * 30_000;
    const code = generateCode(params, start);
    expect(verifyCode(params, code, start + 29_999, 0)).toEqual({ ok: true, step });
    expect(verifyCode(params, code, start + 30_000, 0).ok).toBe(false);
    expect(verifyCode(params, code, start + 30_000, 1)).toEqual({ ok: true, step });
  });

  it('a used step is refused as replay, a newer one accepted', () => {
    const code = generateCode(params, now);
    const first = verifyCode(params, code, now, 1, null);
    expect(first).toEqual({ ok: true, step });
    expect(verifyCode(params, code, now, 1, step)).toEqual({ ok: false, reason: 'replay' });
    // an older step inside the window is a replay too once a newer one was accepted
    const older = generateCode(params, now - 30_000);
    expect(verifyCode(params, older, now, 1, step)).toEqual({ ok: false, reason: 'replay' });
    const next = generateCode(params, now + 30_000);
    expect(verifyCode(params, next, now + 30_000, 1, step)).toEqual({ ok: true, step: step + 1 });
  });

  it('refuses malformed codes without asking the library', () => {
    for (const bad of ['', '12345', '1234567', 'abcdef', '12345 ', '１２３４５６']) {
      expect(verifyCode(params, bad, now, 1)).toEqual({ ok: false, reason: 'format' });
    }
  });

  it('6 and 8 digits, every algorithm, round-trip', () => {
    for (const algorithm of ['SHA1', 'SHA256', 'SHA512'] as const) {
      for (const digits of [6, 8] as const) {
        const p = newTotpParams({ algorithm, digits });
        const code = generateCode(p, now);
        expect(code).toMatch(new RegExp(`^[0-9]{${digits}}$`));
        expect(verifyCode(p, code, now, 0)).toEqual({ ok: true, step });
      }
    }
  });
});

describe('secrets', () => {
  it('are 160-bit base32 and distinct', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 100; i++) {
      const s = generateSecret();
      expect(s).toMatch(/^[A-Z2-7]{32}$/); // 20 bytes = 32 base32 characters
      seen.add(s);
    }
    expect(seen.size).toBe(100);
  });

  it('are shown in groups of four', () => {
    expect(groupSecret('JBSWY3DPEHPK3PXPJBSWY3DP')).toBe('JBSW Y3DP EHPK 3PXP JBSW Y3DP');
  });
});

describe('otpauth URIs (Key-Uri-Format)', () => {
  it('always carries issuer and label; defaults are left out', () => {
    const params = {
      secret: 'JBSWY3DPEHPK3PXPJBSWY3DP',
      algorithm: 'SHA1',
      digits: 6,
      period: 30,
    } as const;
    const uri = buildOtpauthUri('ACME Corp', 'alice', params);
    expect(uri).toBe(
      'otpauth://totp/ACME%20Corp:alice?secret=JBSWY3DPEHPK3PXPJBSWY3DP&issuer=ACME%20Corp',
    );
    expect(parseOtpauthUri(uri)).toEqual({ issuer: 'ACME Corp', account: 'alice', params });
  });

  it('carries algorithm, digits and period when not the defaults, and parses them back', () => {
    const params = {
      secret: 'JBSWY3DPEHPK3PXPJBSWY3DP',
      algorithm: 'SHA512',
      digits: 8,
      period: 60,
    } as const;
    const uri = buildOtpauthUri('idv', 'bob', params);
    expect(uri).toContain('algorithm=SHA512');
    expect(uri).toContain('digits=8');
    expect(uri).toContain('period=60');
    expect(parseOtpauthUri(uri)).toEqual({ issuer: 'idv', account: 'bob', params });
  });

  it('refuses what idv cannot use', () => {
    for (const bad of [
      'http://example.com',
      'otpauth://hotp/idv:alice?secret=JBSWY3DPEHPK3PXPJBSWY3DP&issuer=idv&counter=1',
      'otpauth://totp/alice?secret=JBSWY3DPEHPK3PXPJBSWY3DP', // no issuer at all
      'otpauth://totp/idv:alice?issuer=idv', // no secret
      'otpauth://totp/idv:alice?secret=JBSWY3DP&issuer=idv', // secret too short
      'otpauth://totp/a:alice?secret=JBSWY3DPEHPK3PXPJBSWY3DP&issuer=b', // issuers disagree
      'otpauth://totp/idv:alice?secret=JBSWY3DPEHPK3PXPJBSWY3DP&issuer=idv&digits=7',
      'otpauth://totp/idv:alice?secret=JBSWY3DPEHPK3PXPJBSWY3DP&issuer=idv&algorithm=MD5',
      'not a uri',
    ]) {
      expect(parseOtpauthUri(bad), bad).toBeNull();
    }
  });
});
