/**
 * Whether this replica may be missing changes made through the others: with PostgreSQL it hears
 * them only over its LISTEN connection (store/listen-pg.ts), and while that connection is down
 * (a network cut, PostgreSQL unreachable) it pushes nothing, revokes nothing. `since` is the last
 * moment the connection was known to work; null while it does (always null with SQLite).
 * `/healthz` says it, and the hub tells the agents (sync protocol 3, `serverStatus`).
 */
export type StalenessListener = (since: number | null) => void;

export class Staleness {
  private current: number | null = null;
  private readonly listeners = new Set<StalenessListener>();

  get since(): number | null {
    return this.current;
  }

  /** The connection was found dead; it last worked at `lastAlive` (epoch ms). */
  lost(lastAlive: number): void {
    if (this.current !== null) return;
    this.current = lastAlive;
    this.tell();
  }

  /** Listening again, and the catch-up from the tables has been asked for. */
  back(): void {
    if (this.current === null) return;
    this.current = null;
    this.tell();
  }

  subscribe(listener: StalenessListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private tell(): void {
    for (const l of this.listeners) {
      try {
        l(this.current);
      } catch {
        // One consumer's failure is its own.
      }
    }
  }
}
