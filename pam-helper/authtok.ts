/**
 * The code from stdin, as pam_exec's expose_authtok writes it: the PAM auth token without a
 * newline, then stdin is closed. One token per PAM conversation, so one code per run.
 */
import type { ReadOutcome } from './terminal.js';

/** PAM_MAX_RESP_SIZE is 512; anything longer is not a code and is not kept. */
const MAX_TOKEN_BYTES = 1024;

export function readAuthtok(stdin: NodeJS.ReadableStream, timeoutMs: number): Promise<ReadOutcome> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (outcome: ReadOutcome): void => {
      clearTimeout(timer);
      stdin.removeListener('data', onData);
      stdin.removeListener('end', onEnd);
      stdin.removeListener('error', onEnd);
      stdin.pause();
      resolve(outcome);
    };
    const onData = (chunk: Buffer | string): void => {
      const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      size += b.length;
      if (size <= MAX_TOKEN_BYTES) chunks.push(b);
    };
    const onEnd = (): void => {
      if (size > MAX_TOKEN_BYTES) return finish({ kind: 'line', line: 'x'.repeat(65) });
      // Tolerate one trailing newline (a token piped by hand); pam_exec writes none.
      finish({
        kind: 'line',
        line: Buffer.concat(chunks)
          .toString('utf8')
          .replace(/\r?\n$/, ''),
      });
    };
    const timer = setTimeout(() => finish({ kind: 'timeout' }), timeoutMs);
    stdin.on('data', onData);
    stdin.once('end', onEnd);
    stdin.once('error', onEnd);
    stdin.resume();
  });
}
