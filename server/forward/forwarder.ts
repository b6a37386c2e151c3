/**
 * Forwards stored records to every configured destination, at least once: each destination has
 * a cursor in the store per stream (login events, admin actions: the last seq it took), moved
 * only after a send succeeded. A destination that is down is retried with a doubling delay and
 * catches up from its cursors, so a receiver restart or a server restart loses nothing (UDP
 * excepted: see syslog.ts). Each stream of a destination has its own worker and connection, so
 * one stream's retry never holds up or cuts the other's.
 */
import type { Logger } from '../../protocol/io/log.js';
import type { IntegrationStore } from '../store/integrations.js';
import type { Notice } from '../store/notices.js';
import type { Store } from '../store/store.js';
import type { ForwardConfig } from './config.js';
import { auditRecord, loginRecord, type ForwardRecord, type ForwardStream } from './record.js';
import { SyslogSender, type Sender } from './syslog.js';
import { WebhookSender } from './webhook.js';

/** Where a stream's records come from. */
interface Source {
  stream: ForwardStream;
  /** The newest seq (0 when none). */
  last(): Promise<number>;
  /** Records after `seq`, oldest first. */
  after(seq: number, limit: number): Promise<ForwardRecord[]>;
}

function sources(store: Store): Record<ForwardStream, Source> {
  return {
    login: {
      stream: 'login',
      last: () => store.integrations.lastEventSeq(),
      after: async (seq, limit) =>
        (await store.integrations.eventsAfter(seq, limit)).map(loginRecord),
    },
    audit: {
      stream: 'audit',
      last: async () => (await store.audit.list({ limit: 1 }))[0]?.seq ?? 0,
      after: async (seq, limit) =>
        (await store.audit.list({ afterSeq: seq, limit })).map(auditRecord),
    },
  };
}

/**
 * A destination's cursor name per stream. Login events keep the bare name (cursors stored
 * before admin actions were forwarded stay valid); `|` is in no destination name.
 */
export function cursorName(destination: string, stream: ForwardStream): string {
  return stream === 'login' ? destination : `${stream}|${destination}`;
}

export interface DestinationStatus {
  name: string;
  stream: ForwardStream;
  /** The last seq delivered. */
  cursor: number | null;
  failures: number;
  lastError: string | null;
  lastDeliveredAt: number | null;
}

class Worker {
  readonly status: DestinationStatus;
  private stopped = false;
  /** A notice came since the last read began: the next idle sleep is skipped. */
  private woken = false;
  private sleeper: { wakeable: boolean; end: () => void } | null = null;
  private done: Promise<void> = Promise.resolve();

  constructor(
    private readonly sender: Sender,
    private readonly source: Source,
    private readonly store: IntegrationStore,
    private readonly config: ForwardConfig,
    private readonly log: Logger,
    private readonly clock: () => number,
  ) {
    this.status = {
      name: sender.name,
      stream: source.stream,
      cursor: null,
      failures: 0,
      lastError: null,
      lastDeliveredAt: null,
    };
  }

  start(): void {
    this.done = this.loop().catch((err: Error) =>
      this.log.error({ destination: this.sender.name, error: err.message }, 'forwarding stopped'),
    );
  }

  get stream(): ForwardStream {
    return this.source.stream;
  }

  /**
   * New records committed: an idle worker reads at once. One that is reading or sending reads
   * again before it sleeps (a notice during a read that missed the row is not lost); one that
   * waits to retry a failed destination keeps its backoff (a busy stream must not hammer it).
   */
  wake(): void {
    this.woken = true;
    if (this.sleeper?.wakeable) this.sleeper.end();
  }

  /** Waits `ms`; `idle`: unless woken (or already woken since the last read). Stop ends it. */
  private sleep(ms: number, idle: boolean): Promise<void> {
    if (this.stopped || (idle && this.woken)) return Promise.resolve();
    return new Promise((resolve) => {
      const end = () => {
        clearTimeout(timer);
        this.sleeper = null;
        resolve();
      };
      const timer = setTimeout(end, ms);
      this.sleeper = { wakeable: idle, end };
    });
  }

  private async loop(): Promise<void> {
    const name = this.sender.name;
    const { stream } = this.source;
    const key = cursorName(name, stream);
    let cursor = await this.store.getForwardCursor(key);
    if (cursor === null) {
      cursor = this.config.startAt === 'now' ? await this.source.last() : 0;
      await this.store.setForwardCursor(key, cursor, this.clock());
      this.log.info({ destination: name, stream, from: cursor }, 'forwarding to a new destination');
    }
    this.status.cursor = cursor;
    while (!this.stopped) {
      let batch;
      this.woken = false;
      try {
        batch = await this.source.after(cursor, this.config.batchSize);
      } catch (err) {
        this.log.warn(
          { destination: name, stream, error: (err as Error).message },
          'records unreadable',
        );
        await this.sleep(this.config.pollSeconds * 1000, true);
        continue;
      }
      if (batch.length === 0) {
        await this.sleep(this.config.pollSeconds * 1000, true);
        continue;
      }
      try {
        await this.sender.send(batch);
      } catch (err) {
        this.sender.close();
        const why = (err as Error).message.slice(0, 300);
        const delay = this.config.retrySeconds * 1000 * 2 ** Math.min(this.status.failures, 4);
        this.status.failures++;
        this.status.lastError = why;
        this.log.warn(
          { destination: name, stream, error: why, pending: batch.length, retryInMs: delay },
          'forwarding failed; will retry',
        );
        await this.sleep(delay, false);
        continue;
      }
      cursor = (batch[batch.length - 1] as { seq: number }).seq;
      await this.store.setForwardCursor(key, cursor, this.clock());
      if (this.status.failures > 0)
        this.log.info(
          { destination: name, stream, afterFailures: this.status.failures },
          'forwarding resumed',
        );
      this.status.cursor = cursor;
      this.status.failures = 0;
      this.status.lastError = null;
      this.status.lastDeliveredAt = this.clock();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.sleeper?.end();
    await this.done;
    this.sender.close();
  }
}

export class Forwarder {
  private readonly workers: Worker[];
  private unsubscribe: (() => void) | null = null;

  /** Reads every destination's secret and CA files now, so a bad one stops the server at start. */
  constructor(
    config: ForwardConfig,
    private readonly store: Store,
    log: Logger,
    clock: () => number,
  ) {
    const ms = config.timeoutSeconds * 1000;
    const from = sources(store);
    // One sender per stream: a TCP/TLS connection each, closed on its own failures only.
    this.workers = config.streams.flatMap((stream) =>
      [
        ...config.syslog.map((d) => new SyslogSender(d, ms)),
        ...config.webhooks.map((d) => new WebhookSender(d, ms, clock)),
      ].map((s) => new Worker(s, from[stream], store.integrations, config, log, clock)),
    );
  }

  start(): void {
    for (const w of this.workers) w.start();
    // Woken by every commit of its stream (on any replica, through the store's notices), not
    // only this one's: login events by `events`, admin actions by `audit`; every worker after
    // missed notices. The poll (pollSeconds) is only the net under a lost notice.
    const wakes: Record<ForwardStream, Notice['kind']> = { login: 'events', audit: 'audit' };
    this.unsubscribe = this.store.notices.subscribe((n) => {
      for (const w of this.workers) if (n.kind === 'resync' || n.kind === wakes[w.stream]) w.wake();
    });
  }

  statuses(): DestinationStatus[] {
    return this.workers.map((w) => ({ ...w.status }));
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    await Promise.all(this.workers.map((w) => w.stop()));
  }
}
