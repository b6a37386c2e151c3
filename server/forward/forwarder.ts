/**
 * Forwards stored records to every configured destination, at least once: each destination has
 * its own cursor in the store (the last seq it took), moved only after a send succeeded. A
 * destination that is down is retried with a doubling delay and catches up from its cursor, so a
 * receiver restart or a server restart loses nothing (UDP excepted: see syslog.ts).
 */
import type { Logger } from '../../protocol/io/log.js';
import type { IntegrationStore } from '../store/integrations.js';
import type { Store } from '../store/store.js';
import type { ForwardConfig } from './config.js';
import { loginRecord } from './record.js';
import { SyslogSender, type Sender } from './syslog.js';
import { WebhookSender } from './webhook.js';

export interface DestinationStatus {
  name: string;
  /** The last seq delivered. */
  cursor: number | null;
  failures: number;
  lastError: string | null;
  lastDeliveredAt: number | null;
}

/** How often a destination looks for records it was not woken for (another replica's). */
const POLL_MS = 2000;

class Worker {
  readonly status: DestinationStatus;
  private stopped = false;
  private wakeUp: (() => void) | null = null;
  private done: Promise<void> = Promise.resolve();

  constructor(
    private readonly sender: Sender,
    private readonly store: IntegrationStore,
    private readonly config: ForwardConfig,
    private readonly log: Logger,
    private readonly clock: () => number,
  ) {
    this.status = {
      name: sender.name,
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

  wake(): void {
    this.wakeUp?.();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wakeUp = null;
        resolve();
      }, ms);
      this.wakeUp = () => {
        clearTimeout(timer);
        this.wakeUp = null;
        resolve();
      };
    });
  }

  private async loop(): Promise<void> {
    const name = this.sender.name;
    let cursor = await this.store.getForwardCursor(name);
    if (cursor === null) {
      cursor = this.config.startAt === 'now' ? await this.store.lastEventSeq() : 0;
      await this.store.setForwardCursor(name, cursor, this.clock());
      this.log.info({ destination: name, from: cursor }, 'forwarding to a new destination');
    }
    this.status.cursor = cursor;
    while (!this.stopped) {
      let batch;
      try {
        batch = await this.store.eventsAfter(cursor, this.config.batchSize);
      } catch (err) {
        this.log.warn({ destination: name, error: (err as Error).message }, 'events unreadable');
        await this.sleep(POLL_MS);
        continue;
      }
      if (batch.length === 0) {
        await this.sleep(POLL_MS);
        continue;
      }
      try {
        await this.sender.send(batch.map(loginRecord));
      } catch (err) {
        this.sender.close();
        const why = (err as Error).message.slice(0, 300);
        const delay = this.config.retrySeconds * 1000 * 2 ** Math.min(this.status.failures, 4);
        this.status.failures++;
        this.status.lastError = why;
        this.log.warn(
          { destination: name, error: why, pending: batch.length, retryInMs: delay },
          'forwarding failed; will retry',
        );
        await this.sleep(delay);
        continue;
      }
      cursor = (batch[batch.length - 1] as { seq: number }).seq;
      await this.store.setForwardCursor(name, cursor, this.clock());
      if (this.status.failures > 0)
        this.log.info(
          { destination: name, afterFailures: this.status.failures },
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
    this.wake();
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
    const senders: Sender[] = [
      ...config.syslog.map((d) => new SyslogSender(d, ms)),
      ...config.webhooks.map((d) => new WebhookSender(d, ms, clock)),
    ];
    this.workers = senders.map((s) => new Worker(s, store.integrations, config, log, clock));
  }

  start(): void {
    for (const w of this.workers) w.start();
    // Woken by every commit that stored events (on any replica), not only this one's.
    this.unsubscribe = this.store.notices.subscribe((n) => {
      if (n.kind === 'events' || n.kind === 'resync') for (const w of this.workers) w.wake();
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
