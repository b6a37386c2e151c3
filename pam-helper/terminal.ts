/**
 * Asking for a code on the login's terminal. pam_exec runs the helper with no controlling
 * terminal (after setsid), so /dev/tty fails; the terminal PAM_TTY names is opened directly.
 * Echo is turned off by raw mode and the previous mode is restored by close(), which the caller
 * runs whatever happens (finally, signal handlers, process exit).
 */
import { closeSync, constants, openSync, writeSync } from 'node:fs';
import { ReadStream, isatty } from 'node:tty';
import { LineEditor } from './line-editor.js';

export type ReadOutcome =
  | { readonly kind: 'line'; readonly line: string }
  | { readonly kind: 'cancel' }
  | { readonly kind: 'timeout' };

export class Terminal {
  private restored = false;

  private constructor(
    private readonly input: ReadStream,
    private readonly outFd: number,
  ) {}

  /** Opens the device for reading (raw, no echo) and writing; throws if it is not a terminal. */
  static open(device: string): Terminal {
    const flags = constants.O_NOCTTY;
    const inFd = openSync(device, constants.O_RDONLY | flags);
    let outFd = -1;
    try {
      if (!isatty(inFd)) throw new Error(`${device} is not a terminal`);
      outFd = openSync(device, constants.O_WRONLY | flags);
      const input = new ReadStream(inFd);
      input.setRawMode(true);
      input.pause();
      return new Terminal(input, outFd);
    } catch (err) {
      closeSync(inFd);
      if (outFd >= 0) closeSync(outFd);
      throw err;
    }
  }

  write(text: string): void {
    writeSync(this.outFd, text);
  }

  /** Shows the prompt and reads one line with echo off, for at most timeoutMs. */
  read(prompt: string, timeoutMs: number): Promise<ReadOutcome> {
    this.write(prompt);
    const editor = new LineEditor();
    return new Promise((resolve) => {
      const finish = (outcome: ReadOutcome): void => {
        clearTimeout(timer);
        this.input.off('data', onData);
        this.input.off('end', onEnd);
        this.input.off('error', onEnd);
        this.input.pause();
        // Echo was off, so the Enter the user typed did not move the cursor.
        this.write('\n');
        resolve(outcome);
      };
      const onData = (chunk: Buffer): void => {
        const r = editor.feed(chunk.toString('utf8'));
        if (r.kind !== 'more') finish(r);
      };
      const onEnd = (): void => finish({ kind: 'cancel' });
      const timer = setTimeout(() => finish({ kind: 'timeout' }), timeoutMs);
      this.input.on('data', onData);
      this.input.once('end', onEnd);
      this.input.once('error', onEnd);
      this.input.resume();
    });
  }

  /** Restores the terminal mode and closes it; safe to call more than once. */
  close(): void {
    if (this.restored) return;
    this.restored = true;
    try {
      this.input.setRawMode(false);
    } catch {
      // The terminal may be gone (hang-up); nothing left to restore.
    }
    this.input.destroy();
    try {
      closeSync(this.outFd);
    } catch {
      // already closed
    }
  }
}
