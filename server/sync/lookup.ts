/**
 * Device lookups for hellos, batched: the hellos that arrive in one turn of the event loop (a
 * reconnect storm brings thousands) share one statement instead of one query each. The read
 * still happens after each hello arrived, so a revocation committed before it is seen.
 */
import type { DeviceState, Store } from '../store/store.js';

type Waiter = { resolve: (d: DeviceState | null) => void; reject: (err: unknown) => void };

export class DeviceLookup {
  private waiting = new Map<string, Waiter[]>();

  constructor(private readonly store: Pick<Store, 'getDevices'>) {}

  get(id: string): Promise<DeviceState | null> {
    return new Promise((resolve, reject) => {
      if (this.waiting.size === 0) setImmediate(() => this.flush());
      const list = this.waiting.get(id);
      if (list) list.push({ resolve, reject });
      else this.waiting.set(id, [{ resolve, reject }]);
    });
  }

  private flush(): void {
    const batch = this.waiting;
    this.waiting = new Map();
    this.store.getDevices([...batch.keys()]).then(
      (found) => {
        for (const [id, list] of batch) for (const w of list) w.resolve(found.get(id) ?? null);
      },
      (err: unknown) => {
        for (const list of batch.values()) for (const w of list) w.reject(err);
      },
    );
  }
}
