/**
 * Checking a typed recovery code against a user's slow hashes (protocol/recovery.ts: scrypt,
 * N = 2^14, r = 8: 16 MiB and tens of ms of CPU each, up to ten per user).
 *
 * scrypt runs on libuv's thread pool (4 threads by default), which node-sqlite3 uses for every
 * query too. protocol's findRecoveryCode starts every hash at once, which would fill the pool for
 * the whole check (~0.4 s for ten hashes on two cores) and make every other user's login wait for
 * its durable commit. So the agent runs at most `concurrency` scrypt jobs at a time (default 2,
 * leaving the other threads to SQLite), across all users. It still tries every hash, so the time
 * taken does not tell which code matched. Memory is bounded the same way (2 × 16 MiB).
 */
import { verifyRecoveryCode } from '../../protocol/recovery.js';
import type { RecoveryVerifier } from './verify.js';

/** A counting semaphore: at most `limit` callbacks run at once, the rest wait in FIFO order. */
class Limiter {
  #running = 0;
  readonly #queue: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#running >= this.limit) await new Promise<void>((r) => this.#queue.push(r));
    else this.#running++;
    try {
      return await fn();
    } finally {
      // Hand the slot straight to the next waiter (the count stays), or free it.
      const next = this.#queue.shift();
      if (next) next();
      else this.#running--;
    }
  }
}

/** A RecoveryVerifier sharing one bounded slice of the thread pool across all logins. */
export function boundedRecoveryVerifier(concurrency = 2): RecoveryVerifier {
  const limiter = new Limiter(Math.max(1, concurrency));
  return async (hashes, code) => {
    const results = await Promise.all(
      hashes.map((h) => limiter.run(() => verifyRecoveryCode(code, h))),
    );
    const i = results.indexOf(true);
    return i < 0 ? null : i;
  };
}
