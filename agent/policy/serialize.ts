/**
 * Per-key serialization: callbacks for the same key run one after another, different keys run
 * concurrently. This is what makes 20 parallel wrong codes count exactly 20 failures (read →
 * decide → durable write happen as one step per user), and one valid code succeed exactly once.
 */
export class KeyedSerializer {
  readonly #tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#tails.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.#tails.set(key, tail);
    // Forget the key once nothing is queued behind this call, so the map stays small.
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return next;
  }

  get size(): number {
    return this.#tails.size;
  }
}
