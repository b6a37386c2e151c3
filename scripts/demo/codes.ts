/**
 * Fresh codes for the automatic demo. A code is accepted once, and only when its time step is
 * newer than the last accepted one and within the policy window (±1 step) of the checker's clock,
 * which reads it a moment later: after idvctl or the helper has started, seconds on a loaded
 * machine. So a code is never taken from a step behind the current one (it would fall out of the
 * window as soon as the step turns); the demo keeps track of the last step it used and, when the
 * steps ahead are used up, waits for the next step.
 */
import type { TotpParams } from '../../protocol/messages.js';
import { generateCode, timeStep } from '../../protocol/totp.js';

export class CodeClock {
  private lastStep = -Infinity;

  constructor(
    private readonly params: TotpParams,
    private readonly window = 1,
    private readonly now: () => number = Date.now,
    private readonly sleep: (ms: number) => Promise<void> = (ms) =>
      new Promise((r) => setTimeout(r, ms)),
  ) {}

  private periodMs(): number {
    return this.params.period * 1000;
  }

  /** The code of a step (and remembers it as used). */
  private take(step: number): string {
    this.lastStep = step;
    return generateCode(this.params, step * this.periodMs() + 1);
  }

  /**
   * The code that confirms the enrollment: the current step, which the server still accepts
   * after the step turns while idvctl starts. It is not spent for the logins: the server checks
   * it alone and keeps no used step from it, and the agent never sees it.
   */
  enrollment(): string {
    return generateCode(this.params, this.now());
  }

  /**
   * The next unused step from the current one on, within the window; waits (calling `onWait`)
   * when the steps ahead are used up.
   */
  async fresh(onWait: (seconds: number) => void = () => {}): Promise<string> {
    for (;;) {
      const current = timeStep(this.now(), this.params.period);
      const step = Math.max(this.lastStep + 1, current);
      if (step <= current + this.window) return this.take(step);
      // The window moves one step per period: wait until `step` is inside it.
      const waitMs = (step - this.window) * this.periodMs() - this.now() + 200;
      onWait(Math.ceil(waitMs / 1000));
      await this.sleep(waitMs);
    }
  }

  /** Six digits that are not a valid code anywhere near now. */
  wrong(): string {
    const t = this.now();
    const valid = new Set(
      [-2, -1, 0, 1, 2].map((k) => generateCode(this.params, t + k * this.periodMs())),
    );
    for (let n = 0; ; n++) {
      const candidate = String((123456 + n * 111111) % 1_000_000).padStart(this.params.digits, '0');
      if (!valid.has(candidate)) return candidate;
    }
  }
}
