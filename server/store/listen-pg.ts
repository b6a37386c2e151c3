/**
 * The PostgreSQL side of the store's notices (store/notices.ts): every transaction that commits
 * a revision, login events, a revocation or an audit entry also runs `pg_notify` (NOTIFY is transactional: sent
 * at COMMIT, dropped by a rollback or a retried attempt); this listener holds one connection of
 * its own with `LISTEN idv_notices` and hands what arrives to the replica's `Notices`.
 *
 * A connection that fails (PostgreSQL restarted, a network cut) is opened again with backoff;
 * whatever was notified meanwhile is lost, so after every (re)connect it emits `resync` and the
 * consumers catch up from the change log and the events table. A ping every few seconds notices
 * a connection that died without a word.
 */
import pg from 'pg';
import {
  decodeNotice,
  encodeNotice,
  NOTICE_CHANNEL,
  type Notice,
  type Notices,
} from './notices.js';

/** The statement (portable placeholders) that sends `n` to every replica at COMMIT. */
export function notifyStatement(n: Notice): [string, unknown[]] {
  return ['SELECT pg_notify(?, ?)', [NOTICE_CHANNEL, encodeNotice(n)]];
}

export interface ListenerLog {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

const PING_MS = 5000;
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

  constructor(
    private readonly connectionString: string,
    private readonly notices: Notices,
    private readonly log: ListenerLog,
  ) {}

  /** Connects and listens; rejects when the first attempt fails (serve then fails to start). */
  start(): Promise<void> {
    this.firstReady ??= this.connect(true);
    return this.firstReady;
  }

  private async connect(first: boolean): Promise<void> {
    const client = new pg.Client({ connectionString: this.connectionString, keepAlive: true });
    client.on('notification', (m) => {
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
    this.ping = setInterval(() => {
      client.query('SELECT 1').catch(() => this.lost(client));
    }, PING_MS);
    this.ping.unref();
    if (!first) {
      this.log.info({}, 'database notifications: listening again; catching up');
      // Anything notified while we were away is gone: look in the tables instead.
      this.notices.emit({ kind: 'resync' });
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
    this.log.warn({}, 'database notifications: connection lost; reconnecting');
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
