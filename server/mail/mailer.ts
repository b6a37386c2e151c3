/**
 * Enrollment mail from a durable queue in the store: queued first, then sent (at once, and again
 * after a failure with a doubling delay) until delivered or the link expires. The link is sealed
 * in the store and never logged; nodemailer's own logger stays off.
 */
import type { Transporter } from 'nodemailer';
import type { Logger } from '../../protocol/io/log.js';
import { readPemFile, readSecretFile } from '../config.js';
import type { IntegrationStore, NewMail, QueuedMail } from '../store/integrations.js';
import type { MailConfig } from './config.js';
import { enrollmentMessage } from './message.js';

export interface MailOutcome {
  to: string;
  delivered: boolean;
  /** Why the first attempt failed (it is retried). */
  error?: string;
}

export class Mailer {
  /** Made at the first delivery: nodemailer is loaded then, not at the server's start. */
  private transport: Promise<Transporter> | null = null;
  private readonly options: Parameters<typeof import('nodemailer').createTransport>[0];
  private readonly inFlight = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private draining: Promise<void> | null = null;
  private stopped = false;

  /** Reads the password and CA files now, so a bad one stops the server at start. */
  constructor(
    private readonly config: MailConfig,
    private readonly store: IntegrationStore,
    private readonly log: Logger,
    private readonly clock: () => number,
    private readonly issuer: string,
  ) {
    const ca = config.caFile ? readPemFile(config.caFile, 'mail.caFile') : undefined;
    const pass = config.passwordFile
      ? readSecretFile(config.passwordFile, 'mail.passwordFile')
      : undefined;
    const ms = config.timeoutSeconds * 1000;
    this.options = {
      host: config.host,
      port: config.port,
      secure: config.security === 'tls',
      requireTLS: config.security === 'starttls',
      ignoreTLS: config.security === 'none',
      ...(config.username && pass ? { auth: { user: config.username, pass } } : {}),
      tls: { minVersion: 'TLSv1.2', ...(ca ? { ca } : {}) },
      connectionTimeout: ms,
      greetingTimeout: ms,
      socketTimeout: ms,
      logger: false,
      debug: false,
    };
  }

  private transporter(): Promise<Transporter> {
    this.transport ??= import('nodemailer').then((m) => m.default.createTransport(this.options));
    return this.transport;
  }

  /** Queues the mail (durably) and tries to deliver it now. */
  async queueEnrollment(mail: NewMail): Promise<MailOutcome> {
    const queued = await this.store.enqueueMail(mail, this.clock());
    const error = await this.attempt(queued);
    return { to: mail.address, delivered: error === null, ...(error ? { error } : {}) };
  }

  /** One delivery attempt; null when delivered, else why (and the retry is scheduled). */
  private async attempt(mail: QueuedMail): Promise<string | null> {
    if (this.inFlight.has(mail.id)) return 'a delivery is already under way';
    this.inFlight.add(mail.id);
    const log = this.log.child({ user: mail.user, to: mail.address, kind: mail.kind });
    try {
      if (mail.expiresAt <= this.clock()) {
        await this.store.deleteMail(mail.id);
        log.warn('enrollment mail dropped: its link expired before it could be delivered');
        return 'the link expired before the mail could be delivered';
      }
      const m = enrollmentMessage({ ...mail, issuer: this.issuer });
      await (
        await this.transporter()
      ).sendMail({
        from: this.config.from,
        to: mail.address,
        subject: m.subject,
        text: m.text,
        html: m.html,
      });
      await this.store.deleteMail(mail.id);
      log.info({ attempts: mail.attempts + 1 }, 'enrollment mail sent');
      return null;
    } catch (err) {
      const why = describe(err);
      const delay = this.config.retrySeconds * 1000 * 2 ** Math.min(mail.attempts, 4);
      await this.store.mailFailed(mail.id, why, this.clock() + delay).catch(() => undefined);
      log.warn(
        { attempts: mail.attempts + 1, error: why, retryInMs: delay },
        'enrollment mail failed; will retry',
      );
      return why;
    } finally {
      this.inFlight.delete(mail.id);
    }
  }

  /** Retries due mail every retrySeconds until stop(). */
  start(): void {
    const tick = () => {
      if (this.stopped) return;
      this.draining = this.drain().finally(() => {
        this.draining = null;
        if (!this.stopped) this.timer = setTimeout(tick, this.config.retrySeconds * 1000);
      });
    };
    this.timer = setTimeout(tick, this.config.retrySeconds * 1000);
  }

  private async drain(): Promise<void> {
    try {
      for (const mail of await this.store.dueMail(this.clock(), 50)) {
        if (this.stopped) return;
        await this.attempt(mail);
      }
    } catch (err) {
      this.log.warn({ error: describe(err) }, 'mail queue could not be read');
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.draining;
    if (this.transport) (await this.transport).close();
  }
}

function describe(err: unknown): string {
  const e = err as { message?: string; code?: string; responseCode?: number };
  const text = e.message ?? String(err);
  return (e.code && !text.includes(e.code) ? `${e.code}: ${text}` : text).slice(0, 300);
}
