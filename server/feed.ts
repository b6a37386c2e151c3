/** Live fan-out of newly stored login events to `events --follow` streams. */
import type { StoredEvent } from './store/store.js';

export type EventListener = (events: readonly StoredEvent[]) => void;

export class EventFeed {
  private readonly listeners = new Set<EventListener>();
  private readonly enders = new Set<() => void>();

  /** Returns the function that unsubscribes; `onEnd` runs when the server shuts down. */
  subscribe(listener: EventListener, onEnd: () => void = () => undefined): () => void {
    this.listeners.add(listener);
    this.enders.add(onEnd);
    return () => {
      this.listeners.delete(listener);
      this.enders.delete(onEnd);
    };
  }

  /** Ends every open stream (shutdown: a streaming response would otherwise hold it open). */
  end(): void {
    for (const e of [...this.enders]) e();
  }

  publish(events: readonly StoredEvent[]): void {
    if (events.length === 0) return;
    for (const l of this.listeners) l(events);
  }

  get size(): number {
    return this.listeners.size;
  }
}
