/**
 * The admin API client of idvctl: node:http(s) so that `--ca` can pin a private CA, JSON in and
 * out, catalog errors turned back into IdvError, and a streaming GET for `events --follow`.
 */
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { IdvError, isErrorCode } from '../../protocol/errors.js';
import { unreachableReason } from '../../protocol/unreachable.js';

export interface ClientOptions {
  server: string;
  /** Where the URL came from, for its error (`--server` or `IDV_SERVER`). */
  serverFrom?: string;
  token: string;
  ca?: string;
  timeoutMs?: number;
}

export class ApiClient {
  private readonly base: URL;
  private readonly ca: Buffer | undefined;

  constructor(private readonly options: ClientOptions) {
    const from = options.serverFrom ?? '--server';
    const refuse = (): never => {
      throw new IdvError(
        'USAGE',
        `${from} ${JSON.stringify(options.server.slice(0, 100))} is not an http:// or https:// URL: start it with https:// (http:// for a plain-HTTP server), like https://idv.example.com:8443`,
      );
    };
    let base: URL | undefined;
    try {
      base = new URL(options.server);
    } catch {
      refuse();
    }
    if (!base || (base.protocol !== 'http:' && base.protocol !== 'https:')) refuse();
    this.base = base as URL;
    this.ca = options.ca ? readFileSync(options.ca) : undefined;
  }

  private open(method: string, path: string, body?: unknown): Promise<http.IncomingMessage> {
    const url = new URL(path, this.base);
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const lib = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = lib.request(
        url,
        {
          method,
          headers: {
            authorization: `Bearer ${this.options.token}`,
            accept: 'application/json',
            ...(data ? { 'content-type': 'application/json', 'content-length': data.length } : {}),
          },
          ...(this.ca ? { ca: this.ca } : {}),
        },
        resolve,
      );
      req.setTimeout(this.options.timeoutMs ?? 30_000, () =>
        req.destroy(new IdvError('TIMEOUT', `no answer from ${this.base.origin}`)),
      );
      req.on('error', (err) => {
        if (err instanceof IdvError) return reject(err);
        const code = (err as NodeJS.ErrnoException).code ?? err.message;
        reject(
          new IdvError(
            'SERVER_UNREACHABLE',
            `cannot reach the server at ${this.base.origin} (${code}): ${unreachableReason(this.base, String(code))}`,
          ),
        );
      });
      req.end(data);
    });
  }

  /** One JSON request; a 4xx/5xx becomes the IdvError the server named. */
  async request<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<T> {
    const res = await this.open(method, path, body);
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      throw new IdvError('INTERNAL', `the server answered ${res.statusCode} with non-JSON`);
    }
    if ((res.statusCode ?? 500) >= 400) throw toError(json, res.statusCode ?? 500);
    return json as T;
  }

  /**
   * A streaming GET of NDJSON: `onOpen` once the server accepted it, then `onItem` per object.
   * Always ends with an error: SERVER_UNREACHABLE when the server closes or drops the stream,
   * TIMEOUT when it goes silent past three of its keep-alive lines (a dead peer sends no FIN).
   */
  async stream(
    path: string,
    onItem: (item: Record<string, unknown>) => void,
    onOpen: () => void = () => undefined,
  ): Promise<never> {
    const res = await this.open('GET', path);
    if ((res.statusCode ?? 500) >= 400) {
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      let json: unknown = {};
      try {
        json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        /* fall through to a generic error */
      }
      throw toError(json, res.statusCode ?? 500);
    }
    onOpen();
    res.socket?.setTimeout(STREAM_SILENCE_MS, () =>
      res.destroy(new IdvError('TIMEOUT', `the event stream from ${this.base.origin} went silent`)),
    );
    let rest = '';
    try {
      for await (const chunk of res) {
        rest += (chunk as Buffer).toString('utf8');
        let nl: number;
        while ((nl = rest.indexOf('\n')) >= 0) {
          const line = rest.slice(0, nl).trim();
          rest = rest.slice(nl + 1);
          if (line) onItem(JSON.parse(line) as Record<string, unknown>);
        }
      }
    } catch (err) {
      if (err instanceof IdvError) throw err;
      throw new IdvError('SERVER_UNREACHABLE', `lost the event stream from ${this.base.origin}`);
    }
    throw new IdvError(
      'SERVER_UNREACHABLE',
      `the server at ${this.base.origin} closed the event stream`,
    );
  }
}

/** The server writes a keep-alive line every 15 s. */
const STREAM_SILENCE_MS = 45_000;

function toError(json: unknown, status: number): IdvError {
  const body = json as { code?: unknown; message?: unknown };
  if (body?.code === 'UNAUTHORIZED') {
    return new IdvError(
      'UNAUTHORIZED',
      'the server refused the admin token (check --token or IDV_TOKEN)',
    );
  }
  if (isErrorCode(body?.code)) {
    return new IdvError(body.code, typeof body.message === 'string' ? body.message : undefined);
  }
  return new IdvError('INTERNAL', `the server answered ${status}`);
}
