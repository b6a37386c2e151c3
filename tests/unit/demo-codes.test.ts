// The automatic demo's codes (scripts/demo/codes.ts) against the checker's rule (protocol/totp.ts
// verifyCode, window 1), with the checker reading each code a moment after it was made: the time
// idvctl or the helper takes to start, seconds on a loaded machine. A code made in the last
// second of a step must still be accepted after the step turns.
import { describe, expect, it } from 'vitest';
import { newTotpParams, verifyCode } from '../../protocol/totp.js';
import { CodeClock } from '../../scripts/demo/codes.js';

const params = newTotpParams();
const STEP = params.period * 1000;
/** Made at these times (ms into a step), checked this many ms later. */
const MADE = [0, STEP / 2, STEP - 1];
const DELAYS = [0, 1, 2_000, 10_000, STEP - 1];

describe('demo codes checked a moment later', () => {
  it('the enrollment code is accepted when the step turns before the server checks it', () => {
    for (const into of MADE)
      for (const delay of DELAYS) {
        const made = 1_000_000 * STEP + into;
        const code = new CodeClock(params, 1, () => made).enrollment();
        expect(verifyCode(params, code, made + delay, 1).ok, `made ${into}, +${delay}`).toBe(true);
      }
  });

  it('each login code is new and accepted when the step turns before the agent checks it', async () => {
    let now = 1_000_000 * STEP + STEP - 1;
    let waited = 0;
    const clock = new CodeClock(
      params,
      1,
      () => now,
      async (ms) => {
        now += ms;
        waited += ms;
      },
    );
    let last: number | null = null;
    for (let i = 0; i < 5; i++) {
      const code = await clock.fresh();
      for (const delay of DELAYS)
        expect(verifyCode(params, code, now + delay, 1, last).ok, `login ${i}, +${delay}`).toBe(
          true,
        );
      const accepted = verifyCode(params, code, now, 1, last);
      if (accepted.ok) last = accepted.step;
    }
    // The current step and the next one, then one step per period: 3 waits for 5 logins.
    expect(waited).toBeLessThan(3 * STEP + 1_000);
  });
});
