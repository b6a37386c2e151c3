/**
 * When the next event upload may go out, after the server failed to store one.
 *
 * A server that cannot store a batch (its database refuses the transaction, its disk is full)
 * closes the connection (4500, the reason `CODE: the server could not store the uploaded events`,
 * server/sync/connection.ts). The same batch would fail again at once, and a reconnect resets the
 * reconnect backoff (the connection itself worked): without this the agent would send the batch,
 * be refused, reconnect and send it again in a tight loop. So a failed upload backs off on its
 * own, with the reconnect's exponential backoff and full jitter (backoff.ts), until an upload is
 * acknowledged; the connection (and policy sync) goes on meanwhile. `status` shows the cause.
 */
import { backoffDelay, type BackoffOptions } from './backoff.js';

/** Why uploads are held back, for `status`. Times are epoch ms of the agent's clock. */
export interface UploadError {
  /** The server's catalogued code (STORE_UNAVAILABLE, INTERNAL, ...). */
  code: string;
  message: string;
  /** When the last attempt failed. */
  at: number;
  /** When the next attempt may go (once connected). */
  retryAt: number;
  /** Failed attempts in a row. */
  attempts: number;
}

export class UploadRetry {
  #error: UploadError | null = null;
  /** performance.now() before which no upload goes out. */
  #notBefore = 0;

  constructor(
    private readonly backoff: BackoffOptions,
    private readonly now: () => number,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  get error(): UploadError | null {
    return this.#error;
  }

  /** An upload failed with the server's `code` and `message`; returns the delay before the next. */
  failed(code: string, message: string): number {
    const attempts = (this.#error?.attempts ?? 0) + 1;
    const delay = backoffDelay(attempts - 1, this.backoff);
    this.#notBefore = this.clock() + delay;
    const at = this.now();
    this.#error = { code, message, at, retryAt: at + delay, attempts };
    return delay;
  }

  /** An upload was acknowledged: the next one goes at once. */
  succeeded(): void {
    this.#error = null;
    this.#notBefore = 0;
  }

  /** Milliseconds until an upload may go; 0 = now. */
  wait(): number {
    return Math.max(0, Math.ceil(this.#notBefore - this.clock()));
  }
}
