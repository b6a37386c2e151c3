/**
 * The PostgreSQL side of the store's notices (store/notices.ts): every transaction that commits
 * a revision, login events, a revocation or an audit entry also runs `pg_notify` (NOTIFY is transactional: sent
 * at COMMIT, dropped by a rollback or a retried attempt); this listener holds one connection of
 * its own with `LISTEN idv_notices` and hands what arrives to the replica's `Notices`.
 *
 * A connection that fails (PostgreSQL restarted, a network cut) is opened again with backoff;
 * whatever was notified meanwhile is lost, so after every (re)connect it emits `resync` and the
 * consumers catch up from the change log and the events table.
 *
 * A cut that drops packets without a word (a firewall, a dead switch) sends no reset, and TCP
 * would retransmit for many minutes: so a ping every PING_MS must be answered within DEAD_MS, and
 * every connect and LISTEN too, or the connection is taken as dead. While it is, the replica is
 * stale (store/staleness.ts: `/healthz` and the agents are told) from the last moment it was
 * known to work; listening again ends that, right after asking for the catch-up.
 */
import pg from 'pg';
import {
  decodeNotice,
  encodeNotice,
  NOTICE_CHANNEL,
  type Notice,
  type Notices,
} from './notices.js';
import type { Staleness } from './staleness.js';

/** The statement (portable placeholders) that sends `n` to every replica at COMMIT. */
export function notifyStatement(n: Notice): [string, unknown[]] {
  return ['SELECT pg_notify(?, ?)', [NOTICE_CHANNEL, encodeNotice(n)]];
}

export interface ListenerLog {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

/** How often the LISTEN connection is pinged. */
const PING_MS = 2000;
/** A ping, connect or LISTEN unanswered this long means the connection is dead. */
const DEAD_MS = 3000;
const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 5000;

export class PgNoticeListener {
  private client: pg.Client | null = null;
  private stopped = false;
  private ping: NodeJS.Timeout | null = null;
  private retryMs = RETRY_MIN_MS;
  private retry: NodeJS.Timeout | null = null;
  /** Resolves once the first LISTEN is in place (start waits for it). */
  private firstReady: Promise<void> | null = null;
  /** When the connection last answered (a ping, a notification, LISTEN). */
  private lastAlive = 0;

  constructor(
    private readonly connectionString: string,
    private readonly notices: Notices,
    private readonly log: ListenerLog,
    private readonly staleness: Staleness | null = null,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Connects and listens; rejects when the first attempt fails (serve then fails to start). */
  start(): Promise<void> {
    this.firstReady ??= this.connect(true);
    return this.firstReady;
  }

  private async connect(first: boolean): Promise<void> {
    const client = new pg.Client({
      connectionString: this.connectionString,
      keepAlive: true,
      keepAliveInitialDelayMillis: DEAD_MS,
      connectionTimeoutMillis: DEAD_MS,
      // Client-side: a statement unanswered this long fails (the server may never hear of it).
      query_timeout: DEAD_MS,
    });
    client.on('notification', (m) => {
      this.lastAlive = this.clock();
      if (m.channel !== NOTICE_CHANNEL || m.payload === undefined) return;
      const n = decodeNotice(m.payload);
      if (n) this.notices.emit(n);
    });
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    try {
      await client.connect();
      await client.query(`LISTEN ${NOTICE_CHANNEL}`);
    } catch (err) {
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
      if (first) throw err;
      this.log.warn(
        { err: { name: (err as Error)?.name, message: (err as Error)?.message } },
        'database notifications: reconnect failed; retrying',
      );
      return this.schedule();
    }
    if (this.stopped) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.retryMs = RETRY_MIN_MS;
    this.lastAlive = this.clock();
    let pinging = false;
    this.ping = setInterval(() => {
      if (pinging) return;
      pinging = true;
      client
        .query('SELECT 1')
        .then(
          () => {
            this.lastAlive = this.clock();
          },
          () => this.lost(client),
        )
        .finally(() => {
          pinging = false;
        });
    }, PING_MS);
    this.ping.unref();
    if (!first) {
      this.log.info({}, 'database notifications: listening again; catching up');
      // Anything notified while we were away is gone: look in the tables instead.
      this.notices.emit({ kind: 'resync' });
      this.staleness?.back();
    }
  }

  private lost(client: pg.Client): void {
    if (this.client !== client) return;
    this.client = null;
    if (this.ping) clearInterval(this.ping);
    this.ping = null;
    client.removeAllListeners('end');
    void client.end().catch(() => undefined);
    if (this.stopped) return;
    this.staleness?.lost(this.lastAlive);
    this.log.warn(
      { lastAlive: new Date(this.lastAlive).toISOString() },
      'database notifications: connection lost; changes made through other replicas are not heard until it is back; reconnecting',
    );
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped || this.retry) return;
    const delay = this.retryMs * (0.5 + Math.random() / 2);
    this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
    this.retry = setTimeout(() => {
      this.retry = null;
      void this.connect(false);
    }, delay);
    this.retry.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    if (this.ping) clearInterval(this.ping);
    const c = this.client;
    this.client = null;
    if (c) {
      c.removeAllListeners('end');
      await c.end().catch(() => undefined);
    }
  }
}
