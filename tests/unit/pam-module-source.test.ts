/**
 * pam_idv.so cannot import protocol/ (it is C): the facts it copies are held equal here, read
 * from its source. The error catalog and its retryable flags decide fail_mode=safe; the fixed
 * lines are what a person sees, the same words as the helper's (pam-helper/text.ts).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERRORS } from '../../protocol/errors.js';
import { LIMITS } from '../../protocol/messages.js';
import { NAME_RE } from '../../protocol/policy.js';
import { PROTOCOL_VERSION } from '../../protocol/version.js';
import { MAX_INPUT } from '../../pam-helper/code.js';
import { AGENT_START_WAIT_MS, REPLY_TIMEOUT_MS, SERVICE_RE } from '../../pam-helper/options.js';
import { TEXT } from '../../pam-helper/text.js';

const DIR = path.resolve(import.meta.dirname, '../../pam-module');
const reply = readFileSync(path.join(DIR, 'reply.c'), 'utf8');
const header = readFileSync(path.join(DIR, 'reply.h'), 'utf8');
const module = readFileSync(path.join(DIR, 'pam_idv.c'), 'utf8');

function define(source: string, name: string): string {
  const m = new RegExp(`#define ${name}\\s+((?:\\\\\\n|.)+)`).exec(source);
  if (!m?.[1]) throw new Error(`no #define ${name}`);
  return m[1].replace(/\\\n\s*/g, ' ').trim();
}

describe('pam_idv.so copies of protocol facts', () => {
  it('the error catalog, with the same retryable flags', () => {
    const table = [...reply.matchAll(/\{"([A-Z_]+)", ([01])\}/g)].map((m) => [m[1], m[2] === '1']);
    expect(Object.fromEntries(table)).toEqual(
      Object.fromEntries(Object.entries(ERRORS).map(([code, spec]) => [code, spec.retryable])),
    );
  });

  it('limits, version and timeouts', () => {
    expect(Number(define(header, 'IDV_MAX_REPLY_BYTES'))).toBe(LIMITS.localReply);
    expect(Number(define(module, 'PROTOCOL_VERSION'))).toBe(PROTOCOL_VERSION);
    expect(Number(define(module, 'REPLY_TIMEOUT_MS'))).toBe(REPLY_TIMEOUT_MS);
    expect(Number(define(module, 'AGENT_START_WAIT_MS'))).toBe(AGENT_START_WAIT_MS);
    expect(Number(define(module, 'MAX_INPUT'))).toBe(MAX_INPUT);
    // The name rules are written out as character sets in C; the regexes they follow:
    expect(NAME_RE.source).toBe('^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}$');
    expect(SERVICE_RE.source).toBe('^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$');
  });

  it('the fixed lines are the helper’s words', () => {
    const c = (name: string): string => JSON.parse(define(module, name)) as string;
    expect(c('TEXT_NOT_A_CODE')).toBe(TEXT.notACode);
    expect(c('TEXT_UNAVAILABLE')).toBe(TEXT.unavailable);
    expect(c('TEXT_WAITING')).toBe(TEXT.waiting);
    expect(c('TEXT_NO_PERMISSION')).toBe(TEXT.noPermission);
    expect(c('TEXT_FAIL_OPEN')).toBe(TEXT.failOpen);
    expect(c('TEXT_TIMED_OUT')).toBe(TEXT.timedOut);
    expect(c('TEXT_CANCELLED')).toBe(TEXT.cancelled);
    expect(c('TEXT_PROMPT')).toBe('Verification code (authenticator app): ');
  });
});
