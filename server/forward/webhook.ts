/**
 * Sends records to an HTTPS webhook as one JSON POST per batch, signed with HMAC-SHA256:
 *   X-Idv-Timestamp: unix seconds
 *   X-Idv-Signature: sha256=HEX(HMAC(key, TIMESTAMP + "." + BODY))
 * A batch counts as delivered only on a 2xx answer (docs/forward.md shows how to verify).
 */
import { createHmac } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { readPemFile, readSecretFile } from '../config.js';
import type { WebhookDestination } from './config.js';
import { recordJson, type ForwardRecord } from './record.js';
import type { Sender } from './syslog.js';

export function signature(key: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', key).update(`${timestamp}.${body}`).digest('hex')}`;
}

export class WebhookSender implements Sender {
  readonly name: string;
  private readonly key: string;
  private readonly ca: Buffer | undefined;

  constructor(
    private readonly d: WebhookDestination,
    private readonly timeoutMs: number,
    private readonly clock: () => number,
  ) {
    const u = new URL(d.url);
    this.name = `webhook:${u.origin}${u.pathname}`;
    this.key = readSecretFile(d.secretFile, 'forward.webhooks.secretFile');
    this.ca = d.caFile ? readPemFile(d.caFile, 'forward.webhooks.caFile') : undefined;
  }

  send(records: readonly ForwardRecord[]): Promise<void> {
    const body = JSON.stringify({ records: records.map(recordJson) });
    const timestamp = String(Math.floor(this.clock() / 1000));
    const u = new URL(this.d.url);
    const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = request(
        u,
        {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            'x-idv-timestamp': timestamp,
            'x-idv-signature': signature(this.key, timestamp, body),
          },
          timeout: this.timeoutMs,
          ...(this.ca ? { ca: this.ca } : {}),
          minVersion: 'TLSv1.2',
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            const s = res.statusCode ?? 0;
            if (s >= 200 && s < 300) resolve();
            else reject(new Error(`the webhook answered HTTP ${s}`));
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {}
}
