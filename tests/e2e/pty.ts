/**
 * A program under a pseudo-terminal, driven as a person would: wait for text, type.
 */
import * as pty from 'node-pty';

export class PtySession {
  private buffer = '';
  private readonly waiters = new Set<() => void>();
  readonly exited: Promise<number>;

  private constructor(private readonly term: pty.IPty) {
    term.onData((d) => {
      this.buffer += d;
      for (const w of this.waiters) w();
    });
    this.exited = new Promise((resolve) => {
      term.onExit(({ exitCode }) => {
        resolve(exitCode);
        for (const w of this.waiters) w();
      });
    });
  }

  static spawn(file: string, args: string[], env: Record<string, string> = {}): PtySession {
    const term = pty.spawn(file, args, {
      name: 'xterm',
      cols: 200,
      rows: 50,
      cwd: '/',
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', ...env },
    });
    return new PtySession(term);
  }

  /** Everything the program printed so far. */
  output(): string {
    return this.buffer;
  }

  /** Waits until the output (from `from` on) matches; returns the output. */
  async expect(pattern: RegExp, timeoutMs = 15_000, from = 0): Promise<string> {
    let done = false;
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (done) return;
        if (pattern.test(this.buffer.slice(from))) {
          done = true;
          this.waiters.delete(check);
          clearTimeout(timer);
          resolve(this.buffer);
        }
      };
      const timer = setTimeout(() => {
        done = true;
        this.waiters.delete(check);
        reject(
          new Error(`timed out waiting for ${pattern} in output:\n${this.buffer.slice(from)}`),
        );
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  /** Waits for the pattern, then types the text (a person pressing Enter adds \r). */
  async answer(pattern: RegExp, text: string, timeoutMs?: number): Promise<void> {
    const from = this.mark;
    const out = await this.expect(pattern, timeoutMs, from);
    // The next expect starts right after the match, not at the end of the buffer: what arrived in
    // the same chunk after it (a prompt right behind a message) is still to be answered.
    const m = pattern.exec(out.slice(from))!;
    this.mark = from + m.index + m[0].length;
    this.term.write(text);
  }

  /** Output position after the last answered match: the next expect starts there. */
  mark = 0;

  async exit(timeoutMs = 20_000): Promise<number> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`program did not exit; output:\n${this.buffer}`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  kill(): void {
    try {
      this.term.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}
