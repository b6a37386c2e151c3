/**
 * The time the agent decides logins by: the server's, carried forward on the boot clock.
 *
 * At every connection (the challenge) and after every upload of events (eventsAck, sync protocol
 * 2) the server says its time. The agent keeps that reading with the boot clock beside it
 * (./boot.ts) and, while the boot is the same, its time is
 *
 *     serverTime + (bootClockNow - bootClockAtReading)
 *
 * online and offline, whatever the local wall clock says: codes, the replay guard, lockouts, the
 * cache's age and event times all use it. The reading is persisted in the cache (meta `clock`), so
 * an agent restarted within the same boot keeps it.
 *
 * How old a reading may be: no bound of its own. The boot clock runs at the wall clock's own rate
 * (same oscillator, same NTP frequency correction), so carrying a reading forward is never worse
 * than the wall clock, only immune to its steps; and the cache itself stops being trusted after
 * policy.offlineMaxAgeSeconds without a sync (agent/policy/decide.ts staleness).
 *
 * After a reboot (another boot id, or a boot clock behind the reading) there is no server time:
 * the source is `local` (the wall clock) until the next sync, or `learned` once two consecutive
 * codes at the same offset taught the agent the wall clock's error (agent/policy/skew.ts); a
 * learned offset is a reading like the server's, carried on the boot clock, until the next sync.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Boot } from './boot.js';

export type ClockSource = 'server' | 'local' | 'learned';

const readingSchema = z.strictObject({
  /** The trusted time (epoch ms) at the reading. */
  time: z.number().int(),
  /** The boot clock (ms since boot) at the same moment. */
  boot: z.number().min(0),
  bootId: z.string().min(1).max(160),
  source: z.enum(['server', 'learned']),
  /** The server's time at the last reading it gave (epoch ms), null when none yet. */
  syncedAt: z.number().int().nullable(),
});
export type ClockReading = z.infer<typeof readingSchema>;

/** Where the reading is kept (the cache's meta table). */
export interface ReadingStore {
  load(): Promise<unknown>;
  save(reading: ClockReading): Promise<void>;
}

/** What status and doctor show. */
export interface ClockView {
  source: ClockSource;
  /** Trusted time minus the local wall clock, ms; null when the source is local (unknown). */
  offsetMs: number | null;
  /** The server's time at its last reading, null when there was none this boot. */
  syncedAt: number | null;
}

/** A reading whose time differs from what the kept one predicts by more than this is saved. */
const SAVE_DRIFT_MS = 1000;
/** ... and one at least this much newer than the saved one, so syncedAt stays roughly current. */
const SAVE_EVERY_MS = 10 * 60_000;

export class TrustedClock {
  #reading: ClockReading | null;
  #saved: ClockReading | null;
  readonly #bootId: string;

  private constructor(
    private readonly boot: Boot,
    private readonly wall: () => number,
    private readonly store: ReadingStore,
    reading: ClockReading | null,
  ) {
    // Without a boot id a reading is good for this process only: it never matches after a restart.
    this.#bootId = boot.id ?? `process:${randomUUID()}`;
    this.#reading = reading;
    this.#saved = reading;
  }

  /** The clock with the reading kept in `store` (ignored when unreadable). */
  static async open(boot: Boot, wall: () => number, store: ReadingStore): Promise<TrustedClock> {
    const parsed = readingSchema.safeParse(await store.load().catch(() => undefined));
    return new TrustedClock(boot, wall, store, parsed.success ? parsed.data : null);
  }

  /** The reading, when it still holds: taken in this boot, and the boot clock has not gone back. */
  #current(bootNow: number): ClockReading | null {
    const r = this.#reading;
    if (r === null || r.bootId !== this.#bootId || bootNow < r.boot) return null;
    return r;
  }

  /** The time logins are decided by (epoch ms). */
  now = (): number => {
    const bootNow = this.boot.clockMs();
    const r = this.#current(bootNow);
    return r === null ? this.wall() : r.time + (bootNow - r.boot);
  };

  get source(): ClockSource {
    return this.#current(this.boot.clockMs())?.source ?? 'local';
  }

  view(): ClockView {
    const bootNow = this.boot.clockMs();
    const r = this.#current(bootNow);
    const wall = this.wall();
    return {
      source: r?.source ?? 'local',
      offsetMs: r === null ? null : r.time + (bootNow - r.boot) - wall,
      syncedAt: r?.syncedAt ?? null,
    };
  }

  /** The server said its time (challenge, eventsAck): from now on, that is the time. */
  async observe(serverTime: number): Promise<void> {
    await this.#set({ time: serverTime, source: 'server', syncedAt: serverTime });
  }

  /**
   * Two consecutive codes showed the time is off by `correctionMs` (agent/policy/skew.ts): use the
   * corrected time until the next sync. Never replaces a current server reading.
   */
  async learn(correctionMs: number): Promise<void> {
    if (this.source === 'server') return;
    await this.#set({
      time: this.now() + correctionMs,
      source: 'learned',
      syncedAt: this.#reading?.syncedAt ?? null,
    });
  }

  async #set(r: Pick<ClockReading, 'time' | 'source' | 'syncedAt'>): Promise<void> {
    const next: ClockReading = { ...r, boot: this.boot.clockMs(), bootId: this.#bootId };
    this.#reading = next;
    const s = this.#saved;
    const predicted = s && s.bootId === next.bootId ? s.time + (next.boot - s.boot) : null;
    const same =
      s !== null &&
      predicted !== null &&
      next.boot >= s.boot &&
      s.source === next.source &&
      Math.abs(predicted - next.time) <= SAVE_DRIFT_MS &&
      next.boot - s.boot < SAVE_EVERY_MS;
    if (same) return;
    await this.store.save(next);
    this.#saved = next;
  }
}
