/**
 * Learning a wrong local clock from codes (after a reboot, when the agent has no server time:
 * agent/clock/trusted.ts). Pure, like verify.ts, which calls it for a TOTP code that did not
 * match within the policy's window.
 *
 * A wider search (±WIDE_SECONDS) may find the code further off. One such match alone never logs
 * in: it multiplies a guesser's chances by the number of steps searched (41 instead of 3). As in
 * google-authenticator-libpam, which learns the skew from consecutive codes, the first match is
 * remembered (counters.skewStep / skewOffset, durably like every counter) and answered with
 * "enter the next code"; the code of the very next step, found at the same offset (±1 step), logs
 * in and gives the engine the clock correction to keep until the next sync. The first code is not
 * burnt (it never logged in; the second one's step covers it), and it is not a failure; a code
 * matching nowhere is a failure exactly as before, and forgets the first code.
 */
import { timeStep, verifyCode } from '../../protocol/totp.js';
import type { CachedUser, Counters } from '../store/cache.js';
import type { VerifyInput, VerifyResult } from './verify.js';
import { MESSAGES } from './messages.js';

/** How far the wide search looks either side of the agent's time. */
export const WIDE_SECONDS = 600;

/** The counters without a pending first code. */
export function forgetSkew(c: Counters): Counters {
  return c.skewStep === null && c.skewOffset === null
    ? c
    : { ...c, skewStep: null, skewOffset: null };
}

/**
 * The wide search for a code that did not match within the window: the reply when it matched
 * further off (first code: prompt for the next; second consecutive one: ok with the correction),
 * or null when it matched nowhere (the caller counts the failure).
 */
export function skewAttempt(
  input: VerifyInput,
  totp: NonNullable<CachedUser['totp']>,
  counters: Counters,
  success: (step: number) => Counters,
): VerifyResult | null {
  const { now, policy } = input;
  const steps = Math.ceil(WIDE_SECONDS / totp.period);
  const r = verifyCode(totp, input.code, now, steps, counters.lastStep);
  if (!r.ok) return null;
  const offset = r.step - timeStep(now, totp.period);
  if (
    counters.skewStep !== null &&
    counters.skewOffset !== null &&
    r.step === counters.skewStep + 1 &&
    Math.abs(offset - counters.skewOffset) <= 1
  ) {
    // The phone is in step r.step now: the middle of it is the best guess of the time.
    const periodMs = totp.period * 1000;
    return {
      reply: { type: 'ok', message: MESSAGES.clockLearned },
      outcome: 'ok',
      reason: 'clock-skew',
      step: r.step,
      counters: success(r.step),
      clockCorrectionMs: r.step * periodMs + periodMs / 2 - now,
    };
  }
  return {
    reply: {
      type: 'invalid',
      attemptsLeft: Math.max(1, policy.maxAttempts - counters.failures),
      message: MESSAGES.clockSkewNext,
    },
    // A valid code, off the agent's clock: neither a failure nor yet a success.
    outcome: 'prompt',
    reason: 'clock-skew-first-code',
    counters: { ...counters, skewStep: r.step, skewOffset: offset },
  };
}
