/**
 * When the store cannot write: the error every caller gets and the state /healthz reports.
 *
 * Both drivers turn a database that cannot take a write (its disk full, made read-only, down or
 * unreachable) into one catalogued, retryable error, STORE_UNAVAILABLE (503), whose message names
 * the cause; the transaction it happened in was rolled back, so nothing is half-written. The
 * driver's StoreHealth remembers the last such failure until a write commits again: /healthz
 * answers not ok with that cause meanwhile (server/store/sql-store.ts `checkHealth`).
 */
import { IdvError } from '../../protocol/errors.js';
import type { Queryable } from './db.js';

/** Why the store cannot write. */
export type StoreFault = 'disk full' | 'read-only' | 'unreachable';

const ADVICE: Record<StoreFault, string> = {
  'disk full': "the database's disk is full",
  'read-only': 'the database is read-only',
  unreachable: 'the database is unavailable',
};

/**
 * What an unauthenticated caller (/healthz) may be told of a fault: its cause in words, without
 * the driver's own message, which can name internal hosts, ports and file paths.
 */
export function publicFaultMessage(fault: StoreFault): string {
  return `${ADVICE[fault]}; nothing was written, try again shortly`;
}

/** STORE_UNAVAILABLE naming its cause; nothing of the failed transaction was written. */
export class StoreFaultError extends IdvError {
  constructor(
    readonly fault: StoreFault,
    readonly reason: string,
  ) {
    super(
      'STORE_UNAVAILABLE',
      `${ADVICE[fault]} (${reason}); nothing was written, try again shortly`,
    );
  }
}

/** SQLite result codes (the sqlite3 package's `err.code`) that mean the store cannot write. */
const SQLITE_FAULTS: Record<string, StoreFault> = {
  SQLITE_FULL: 'disk full',
  SQLITE_READONLY: 'read-only',
  SQLITE_IOERR: 'unreachable',
  SQLITE_CANTOPEN: 'unreachable',
};

/** A SQLite error as the StoreFaultError it is, or the error unchanged. */
export function sqliteFault(err: unknown): unknown {
  const e = err as { code?: unknown; message?: unknown } | null;
  const fault = typeof e?.code === 'string' ? SQLITE_FAULTS[e.code] : undefined;
  if (!fault) return err;
  return new StoreFaultError(fault, typeof e?.message === 'string' ? e.message : String(e?.code));
}

export interface HealthState {
  fault: StoreFault;
  /** The error's message, as the failed request got it. */
  message: string;
  /** When the first failure of this spell happened (ms). */
  since: number;
}

/**
 * The last write failure of one driver, cleared by the next committed write (a transaction that
 * changed at least one row): a read that works proves nothing about a full disk.
 */
export class StoreHealth {
  private state: HealthState | null = null;

  constructor(private readonly now: () => number = Date.now) {}

  current(): HealthState | null {
    return this.state;
  }

  /**
   * Runs `body` (a transaction, or one statement), watching it: a StoreFaultError is remembered,
   * a success that changed rows through a `counted` queryable clears it. `counted` is called
   * once per attempt (a retried transaction counts only its last).
   */
  async track<T>(body: (counted: <Q extends Queryable>(q: Q) => Q) => Promise<T>): Promise<T> {
    let changed = 0;
    const counted = <Q extends Queryable>(q: Q): Q => {
      changed = 0;
      return {
        ...q,
        run: async (sql: string, params?: readonly unknown[]) => {
          const r = await q.run(sql, params);
          changed += r.changes;
          return r;
        },
      };
    };
    try {
      const result = await body(counted);
      if (changed > 0) this.state = null;
      return result;
    } catch (err) {
      if (err instanceof StoreFaultError) {
        const since = this.state?.fault === err.fault ? this.state.since : this.now();
        this.state = { fault: err.fault, message: err.message, since };
      }
      throw err;
    }
  }
}
