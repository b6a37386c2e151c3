/** Live fan-out of newly stored login events to `events --follow` streams. */
import type { StoredEvent } from './store/store.js';

export type EventListener = (events: readonly StoredEvent[]) => void;

export class EventFeed {
  private readonly listeners = new Set<EventListener>();

  /** Returns the function that unsubscribes. */
  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  publish(events: readonly StoredEvent[]): void {
    if (events.length === 0) return;
    for (const l of this.listeners) l(events);
  }

  get size(): number {
    return this.listeners.size;
  }
}
