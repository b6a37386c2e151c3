import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SecretBox, hashToken, hashesEqual, newToken } from '../../server/store/crypto.js';

describe('SecretBox', () => {
  const box = new SecretBox(randomBytes(32));
  it('round-trips and never shows the plaintext', () => {
    const sealed = box.seal('JBSWY3DPEHPK3PXP', 'totp:alice');
    expect(sealed).not.toContain('JBSWY3DPEHPK3PXP');
    expect(box.open(sealed, 'totp:alice')).toBe('JBSWY3DPEHPK3PXP');
    expect(box.seal('x', 'c')).not.toBe(box.seal('x', 'c'));
  });
  it('refuses another context (user), another key, or tampering', () => {
    const sealed = box.seal('secret', 'totp:alice');
    expect(() => box.open(sealed, 'totp:bob')).toThrow(/failed authentication/);
    expect(() => new SecretBox(randomBytes(32)).open(sealed, 'totp:alice')).toThrow(
      /failed authentication/,
    );
    const parts = sealed.split('.');
    const body = Buffer.from(parts[2] as string, 'base64url');
    body[0] = (body[0] as number) ^ 1;
    expect(() =>
      box.open(`${parts[0]}.${parts[1]}.${body.toString('base64url')}`, 'totp:alice'),
    ).toThrow();
    expect(() => box.open('garbage', 'totp:alice')).toThrow(/unknown format/);
    expect(() => new SecretBox(randomBytes(16))).toThrow(/32 bytes/);
  });
});

describe('tokens', () => {
  it('are 256-bit, stored as SHA-256 hex, compared in constant time', () => {
    const t = newToken();
    expect(t).toMatch(/^idv_[A-Za-z0-9_-]{43}$/);
    expect(hashToken(t)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashesEqual(hashToken(t), hashToken(t))).toBe(true);
    expect(hashesEqual(hashToken(t), hashToken(`${t}x`))).toBe(false);
    expect(hashesEqual('', '')).toBe(false);
  });
});
