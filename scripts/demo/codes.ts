/**
 * Fresh codes for the automatic demo. A code is accepted once, and only when its time step is
 * newer than the last accepted one and within the policy window (±1 step), so the demo keeps
 * track of the last step it used and, when the window is used up, waits for the next step.
 */
import type { TotpParams } from '../../protocol/messages.js';
import { generateCode, timeStep } from '../../protocol/totp.js';

export class CodeClock {
  private lastStep = -Infinity;

  constructor(
    private readonly params: TotpParams,
    private readonly window = 1,
    private readonly now: () => number = Date.now,
  ) {}

  private periodMs(): number {
    return this.params.period * 1000;
  }

  /** The code of a step (and remembers it as used). */
  private take(step: number): string {
    this.lastStep = step;
    return generateCode(this.params, step * this.periodMs() + 1);
  }

  /** The oldest step still accepted (for enrollment: leaves the newer ones for logins). */
  oldest(): string {
    return this.take(timeStep(this.now(), this.params.period) - this.window);
  }

  /** The next unused step within the window; waits (calling `onWait`) when there is none. */
  async fresh(onWait: (seconds: number) => void = () => {}): Promise<string> {
    for (;;) {
      const current = timeStep(this.now(), this.params.period);
      const step = Math.max(this.lastStep + 1, current - this.window);
      if (step <= current + this.window) return this.take(step);
      // The window moves one step per period: wait until `step` is inside it.
      const waitMs = (step - this.window) * this.periodMs() - this.now() + 200;
      onWait(Math.ceil(waitMs / 1000));
      await new Promise((r) => setTimeout(r, waitMs));
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
