/**
 * The one TOTP rule (RFC 6238) that the server applies at enrollment and the agent at login,
 * over otplib v13 with Node's crypto. No I/O; time is always passed in.
 */
import { generateSecret as otpGenerateSecret, generateSync, verifySync } from 'otplib';
import { NodeCryptoPlugin } from '@otplib/plugin-crypto-node';
import { ScureBase32Plugin } from '@otplib/plugin-base32-scure';
import { generateTOTP, parse as parseUri } from '@otplib/uri';
import type { TotpParams } from './messages.js';
import { totpParamsSchema } from './messages.js';

const crypto = new NodeCryptoPlugin();
const base32 = new ScureBase32Plugin();

export type Algorithm = TotpParams['algorithm'];

export const DEFAULT_TOTP = Object.freeze({
  algorithm: 'SHA1' as Algorithm,
  digits: 6 as 6 | 8,
  period: 30,
});

/** 160 bits (RFC 4226 §4 recommends at least 160), as RFC 4648 base32 without padding. */
export const SECRET_BYTES = 20;

export function generateSecret(bytes: number = SECRET_BYTES): string {
  return otpGenerateSecret({ length: bytes, crypto, base32 }).replace(/=+$/, '');
}

/** Fresh TOTP parameters with a new secret and the defaults unless given. */
export function newTotpParams(options: Partial<Omit<TotpParams, 'secret'>> = {}): TotpParams {
  return { secret: generateSecret(), ...DEFAULT_TOTP, ...options };
}

type Secret = string | Uint8Array;

function lower(a: Algorithm): 'sha1' | 'sha256' | 'sha512' {
  return a.toLowerCase() as 'sha1' | 'sha256' | 'sha512';
}

/** The code for `nowMs`. `secret` is base32 text or raw key bytes (the RFC vectors use bytes). */
export function generateCode(
  params: Omit<TotpParams, 'secret'> & { secret: Secret },
  nowMs: number,
): string {
  return generateSync({
    secret: params.secret,
    algorithm: lower(params.algorithm),
    digits: params.digits,
    period: params.period,
    epoch: Math.floor(nowMs / 1000),
    crypto,
    base32,
  });
}

/** The RFC 6238 time step of `nowMs`. */
export function timeStep(nowMs: number, period: number = DEFAULT_TOTP.period): number {
  return Math.floor(Math.floor(nowMs / 1000) / period);
}

export type VerifyOutcome =
  { ok: true; step: number } | { ok: false; reason: 'mismatch' | 'replay' | 'format' };

/**
 * Checks `code` against the steps `now - window .. now + window`.
 *
 * Returns the matched time step so the caller can store it. With `lastStep`, a step at or before
 * it is refused as `replay` (RFC 6238 §5.2: accept a code at most once). The comparison inside
 * otplib is constant-time.
 */
export function verifyCode(
  params: Omit<TotpParams, 'secret'> & { secret: Secret },
  code: string,
  nowMs: number,
  window: number,
  lastStep?: number | null,
): VerifyOutcome {
  if (code.length !== params.digits || !/^[0-9]+$/.test(code))
    return { ok: false, reason: 'format' };
  const base = {
    secret: params.secret,
    token: code,
    algorithm: lower(params.algorithm),
    digits: params.digits,
    period: params.period,
    epoch: Math.floor(nowMs / 1000),
    epochTolerance: window * params.period,
    crypto,
    base32,
  };
  const guarded = lastStep !== undefined && lastStep !== null;
  // A guard at or past the newest step in the window leaves no step to accept (otplib throws
  // there: a clock behind the last accepted step, e.g. set back after a login).
  if (guarded && lastStep >= timeStep(nowMs, params.period) + window) {
    return verifySync(base).valid
      ? { ok: false, reason: 'replay' }
      : { ok: false, reason: 'mismatch' };
  }
  const fresh = verifySync(guarded ? { ...base, afterTimeStep: lastStep } : base);
  if (fresh.valid && 'timeStep' in fresh) return { ok: true, step: fresh.timeStep };
  if (lastStep !== undefined && lastStep !== null && verifySync(base).valid) {
    return { ok: false, reason: 'replay' };
  }
  return { ok: false, reason: 'mismatch' };
}

/**
 * An otpauth:// URI per Google's Key-Uri-Format: label `issuer:account`, `issuer` parameter always;
 * algorithm, digits and period only when they are not the defaults (some apps ignore them).
 */
export function buildOtpauthUri(issuer: string, account: string, params: TotpParams): string {
  return generateTOTP({
    issuer,
    label: account,
    secret: params.secret,
    ...(params.algorithm !== DEFAULT_TOTP.algorithm ? { algorithm: lower(params.algorithm) } : {}),
    ...(params.digits !== DEFAULT_TOTP.digits ? { digits: params.digits } : {}),
    ...(params.period !== DEFAULT_TOTP.period ? { period: params.period } : {}),
  });
}

export interface ParsedOtpauth {
  issuer: string;
  account: string;
  params: TotpParams;
}

/** Parses an otpauth://totp URI; null when it is not a valid one idv can use. */
export function parseOtpauthUri(uri: string): ParsedOtpauth | null {
  try {
    const parsed = parseUri(uri);
    if (parsed.type !== 'totp') return null;
    const p = parsed.params as Record<string, unknown>;
    const colon = parsed.label.indexOf(':');
    const labelIssuer = colon >= 0 ? parsed.label.slice(0, colon) : undefined;
    const account = (colon >= 0 ? parsed.label.slice(colon + 1) : parsed.label).trim();
    const issuer = typeof p.issuer === 'string' ? p.issuer : labelIssuer;
    if (!issuer || !account) return null;
    if (labelIssuer !== undefined && labelIssuer !== issuer) return null;
    const candidate = {
      secret: String(p.secret ?? '')
        .toUpperCase()
        .replace(/=+$/, ''),
      algorithm: String(p.algorithm ?? DEFAULT_TOTP.algorithm).toUpperCase(),
      digits: p.digits === undefined ? DEFAULT_TOTP.digits : Number(p.digits),
      period: p.period === undefined ? DEFAULT_TOTP.period : Number(p.period),
    };
    const params = totpParamsSchema.safeParse(candidate);
    return params.success ? { issuer, account, params: params.data } : null;
  } catch {
    return null;
  }
}

/** `JBSW Y3DP EHPK 3PXP` — the secret as a person types it. */
export function groupSecret(secret: string): string {
  return secret.replace(/(.{4})(?=.)/g, '$1 ');
}
