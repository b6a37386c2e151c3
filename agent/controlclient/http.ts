/**
 * One JSON POST over node:http/https, with the pinned CA when given (Node's fetch cannot take
 * a custom CA per request). Network failures become SERVER_UNREACHABLE with the reason.
 */
import http from 'node:http';
import https from 'node:https';
import { IdvError } from '../../protocol/errors.js';
import { unreachableReason } from '../../protocol/unreachable.js';

export interface JsonResponse {
  status: number;
  body: unknown;
  /** The HTTP Date header, epoch ms, when the server sent one (doctor's clock check). */
  date: number | null;
}

/**
 * TLS options for every connection to the server. `rejectUnauthorized: true` is explicit because
 * Node's default follows NODE_TLS_REJECT_UNAUTHORIZED: a stray `=0` in the agent's environment
 * would otherwise switch certificate checks off, with only a warning on stderr.
 */
export const VERIFY_TLS = Object.freeze({ rejectUnauthorized: true as const });

export function httpsAgentFor(ca: Buffer | undefined): https.Agent | undefined {
  return ca ? new https.Agent({ ca, keepAlive: false, ...VERIFY_TLS }) : undefined;
}

export function requestJson(
  url: URL,
  options: { method: 'GET' | 'POST'; body?: unknown; ca?: Buffer | undefined; timeoutMs?: number },
): Promise<JsonResponse> {
  const payload =
    options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
  const lib = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request(
      url,
      {
        method: options.method,
        headers: {
          accept: 'application/json',
          ...(payload
            ? { 'content-type': 'application/json', 'content-length': payload.length }
            : {}),
        },
        ...(url.protocol === 'https:'
          ? { ...VERIFY_TLS, ...(options.ca ? { agent: httpsAgentFor(options.ca) } : {}) }
          : {}),
        timeout: options.timeoutMs ?? 15_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > 1024 * 1024) req.destroy(new Error('response too large'));
          else chunks.push(c);
        });
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = null;
          try {
            body = text ? JSON.parse(text) : null;
          } catch {
            body = null;
          }
          const date = res.headers.date ? Date.parse(res.headers.date) : NaN;
          resolve({ status: res.statusCode ?? 0, body, date: Number.isNaN(date) ? null : date });
        });
        res.on('error', (err) => reject(unreachable(url, err)));
      },
    );
    req.on('timeout', () =>
      req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })),
    );
    req.on('error', (err) => reject(unreachable(url, err)));
    req.end(payload);
  });
}

function unreachable(url: URL, err: Error): IdvError {
  const code = (err as NodeJS.ErrnoException).code ?? err.message;
  return new IdvError(
    'SERVER_UNREACHABLE',
    `cannot reach the idv server at ${url.origin} (${code}): ${unreachableReason(url, String(code))}`,
  );
}
