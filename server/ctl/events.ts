/**
 * `idvctl events [--follow]`: one row layout for both modes (a header, then fixed-width columns
 * that do not depend on the rows to come, so a stream lines up like a listing), device names
 * rather than ids, and a follower that outlives a server restart: it asks again with the last
 * store order it printed (`after=SEQ`) and so neither misses nor repeats an event.
 */
import {
  EXIT,
  intFlag,
  stringFlag,
  uuidFlag,
  type Command,
  type Io,
  type Parsed,
} from '../../protocol/cli.js';
import { IdvError } from '../../protocol/errors.js';
import type { ApiClient } from './client.js';
import { printable } from './format.js';

type Json = Record<string, unknown>;

/** Header and minimum width of each column; a longer value widens only its own row. */
const COLUMNS: readonly [string, number][] = [
  ['AT', 24],
  ['DEVICE', 16],
  ['USER', 12],
  ['SERVICE', 10],
  ['OUTCOME', 8],
  ['REASON', 12],
  ['RHOST', 0],
];

function row(cells: string[]): string {
  return cells
    .map((c, i) => printable(c).padEnd(COLUMNS[i]?.[1] ?? 0))
    .join('  ')
    .trimEnd();
}

export const EVENTS_HEADER = row(COLUMNS.map(([h]) => h));

export function eventRow(e: Json): string {
  const text = (v: unknown) => (v === undefined || v === null || v === '' ? '-' : String(v));
  return row([
    text(e.at),
    text(e.deviceName ?? e.device),
    text(e.user),
    text(e.service),
    text(e.outcome),
    text(e.reason),
    text(e.rhost),
  ]);
}

function timeFlag(values: Parsed['values'], name: string): string | undefined {
  const v = stringFlag(values, name);
  if (v !== undefined && !/^[0-9]{1,16}$/.test(v) && Number.isNaN(Date.parse(v)))
    throw new IdvError('USAGE', `--${name} must be ISO-8601 (2026-01-31T08:00:00Z) or epoch ms`);
  return v;
}

/** The query string; every value checked here first (USAGE, exit 2, no round trip). */
function eventQuery(values: Parsed['values'], after?: number): string {
  const q = new URLSearchParams();
  const given = {
    user: stringFlag(values, 'user'),
    device: uuidFlag(values, 'device'),
    since: timeFlag(values, 'since'),
    until: timeFlag(values, 'until'),
    limit: intFlag(values, 'limit', 1, 10_000)?.toString(),
  };
  for (const [k, v] of Object.entries(given)) if (v !== undefined) q.set(k, v);
  if (after !== undefined) {
    // Everything since the last one printed, not only the latest few.
    q.set('after', String(after));
    q.set('limit', '10000');
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 5000;

/**
 * Streams events until stdout closes or a non-retryable error. The first connection must work
 * (a wrong URL or token is reported at once); after that, a lost stream is retried for ever,
 * with a note on stderr when it goes and when it comes back.
 */
async function follow(api: ApiClient, values: Parsed['values'], io: Io): Promise<never> {
  let after: number | undefined;
  let connected = false;
  let lost = false;
  let delay = RETRY_MIN_MS;
  for (;;) {
    try {
      await api.stream(
        `/v1/events/stream${eventQuery(values, after)}`,
        (e) => {
          if (typeof e.seq === 'number') after = e.seq;
          io.out(values.json ? JSON.stringify(e) : eventRow(e));
        },
        () => {
          // The header once the server took the stream: from then on, nothing is missed.
          if (!connected && !values.json) io.out(EVENTS_HEADER);
          connected = true;
          delay = RETRY_MIN_MS;
          if (lost) io.err('idvctl: event stream back');
          lost = false;
        },
      );
    } catch (err) {
      // A server that is down or restarting (unreachable, silent, 5xx) is waited for; a refusal
      // (the token revoked meanwhile) ends the follow.
      if (!connected || !(err instanceof IdvError) || !(err.retryable || err.status >= 500))
        throw err;
      if (!lost) io.err(`idvctl: ${err.message}; reconnecting`);
      lost = true;
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, RETRY_MAX_MS);
  }
}

export function eventsCommand(client: (values: Parsed['values']) => ApiClient): Command {
  return {
    summary: 'Login events, newest last; --follow streams new ones as they arrive (and reconnects)',
    options: {
      user: { type: 'string' },
      device: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      limit: { type: 'string' },
      follow: { type: 'boolean', short: 'f' },
    },
    flags: {
      user: { value: 'U', help: 'only this user' },
      device: { value: 'ID', help: 'only this device (an id from device list)' },
      since: { value: 'T', help: 'from this time on (ISO-8601 or epoch ms)' },
      until: { value: 'T', help: 'before this time' },
      limit: { value: 'N', help: 'the latest N, 1 to 10000 (default: 100; 20 with --follow)' },
      follow: { help: 'keep printing new events as they arrive (-f)' },
    },
    run: async ({ values }, io) => {
      const api = client(values);
      if (values.follow) return follow(api, values, io);
      const r = await api.request<{ events: Json[] }>('GET', `/v1/events${eventQuery(values)}`);
      io.out(
        values.json ? JSON.stringify(r) : [EVENTS_HEADER, ...r.events.map(eventRow)].join('\n'),
      );
      return EXIT.OK;
    },
  };
}
