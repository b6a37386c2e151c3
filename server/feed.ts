/**
 * Live fan-out of newly stored login events to `events --follow` streams. Driven by the store's
 * "events up to seq M committed" notices, whichever replica stored them: the feed reads what came
 * after the last seq it published, in store order, so a follower on replica B sees a login
 * reported to replica A. Catch-ups run one at a time.
 */
import type { Store, StoredEvent } from './store/store.js';

export type EventListener = (events: readonly StoredEvent[]) => void;

/** Seqs read per catch-up query. */
const PAGE = 1000;

export class EventFeed {
  private readonly listeners = new Set<EventListener>();
  private readonly enders = new Set<() => void>();
  /** Highest seq published (or known and skipped while nobody followed); null until read. */
  private lastSeq: number | null = null;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: Store,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {}

  /** Reads where the events table ends now (call once at start). */
  async start(): Promise<void> {
    const [latest] = await this.store.queryEvents({ limit: 1 });
    this.lastSeq ??= latest?.seq ?? 0;
  }

  /** Returns the function that unsubscribes; `onEnd` runs when the server shuts down. */
  subscribe(listener: EventListener, onEnd: () => void = () => undefined): () => void {
    this.listeners.add(listener);
    this.enders.add(onEnd);
    return () => {
      this.listeners.delete(listener);
      this.enders.delete(onEnd);
    };
  }

  /**
   * Ends every open stream (shutdown: a streaming response would otherwise hold it open).
   * Resolves once the read in progress, if any, is done: the store may close after that.
   */
  end(): Promise<void> {
    for (const e of [...this.enders]) e();
    return this.chain;
  }

  /**
   * Events up to `seq` are committed (seq undefined: maybe some were missed, look). Resolves once
   * they have been published.
   */
  committed(seq?: number): Promise<void> {
    this.chain = this.chain.then(() => this.catchUp(seq)).catch(this.onError);
    return this.chain;
  }

  private async catchUp(seq: number | undefined): Promise<void> {
    if (this.lastSeq === null) await this.start();
    const from = this.lastSeq as number;
    if (seq !== undefined && seq <= from) return;
    const target = seq ?? (await this.store.queryEvents({ limit: 1 }))[0]?.seq ?? from;
    if (this.listeners.size > 0) {
      // Seqs are unique integers: a window of PAGE of them holds at most PAGE events, so the
      // query's "latest `limit`" never cuts one off.
      for (let after = from; after < target; after += PAGE) {
        const upTo = Math.min(after + PAGE, target);
        this.publish(
          await this.store.queryEvents({ afterSeq: after, beforeSeq: upTo + 1, limit: PAGE }),
        );
      }
    }
    // Nobody follows: a new stream reads its own backlog.
    this.lastSeq = Math.max(this.lastSeq ?? 0, target);
  }

  private publish(events: readonly StoredEvent[]): void {
    if (events.length === 0) return;
    for (const l of this.listeners) l(events);
  }

  get size(): number {
    return this.listeners.size;
  }
}
