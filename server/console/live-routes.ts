/**
 * JSON for the live pages' script (console.js), read through the API like the pages: the push
 * progress of a policy change and the events after a store order. Same session, same roles.
 * The query is validated here (a bad one is a 400 VALIDATION_FAILED naming the field, like the
 * API's), and an API refusal keeps its status and code: nothing a caller sends is a 500.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { IdvError } from '../../protocol/errors.js';
import { OUTCOMES } from '../../protocol/messages.js';
import { nameSchema } from '../../protocol/policy.js';
import { eventQuery } from '../http/events.js';
import { rolloutQuery } from '../http/policy.js';
import { parseInput } from '../http/validate.js';
import { ApiRefused, enc, type Api, type Json } from './kit.js';
import { when } from './layout.js';
import { outcomeClass } from './pages/events.js';

const rolloutLive = rolloutQuery.extend({ group: nameSchema });
const eventsLive = eventQuery
  .pick({ user: true, device: true, after: true })
  .extend({ outcome: z.enum(OUTCOMES).optional() });
const eventsExport = eventQuery
  .pick({ user: true, device: true, since: true, until: true })
  .extend({ outcome: z.enum(OUTCOMES).optional(), format: z.enum(['csv', 'json']) });
/** The most events one download holds (the API's own limit). */
const EXPORT_LIMIT = 10_000;
const CSV_COLUMNS = [
  'seq',
  'at',
  'device',
  'deviceName',
  'user',
  'service',
  'outcome',
  'reason',
  'rhost',
  'tty',
  'afterRevocation',
] as const;

/** One CSV field: quoted when needed; a leading = + - @ is defused for spreadsheets. */
function csvField(v: unknown): string {
  let text = v === undefined || v === null ? '' : String(v);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function eventsCsv(events: Json[]): string {
  const rows = events.map((e) => CSV_COLUMNS.map((k) => csvField(e[k])).join(','));
  return `${[CSV_COLUMNS.join(','), ...rows].join('\r\n')}\r\n`;
}

export function registerLive(
  app: FastifyInstance,
  apiOf: (req: FastifyRequest) => Promise<Api | null>,
): void {
  /** A JSON route: 401 without a session, else `run` with the parsed query; refusals as JSON. */
  function live<T>(
    schema: z.ZodType<T>,
    run: (api: Api, q: T, reply: FastifyReply) => Promise<unknown>,
  ): (req: FastifyRequest, reply: FastifyReply) => Promise<unknown> {
    return async (req, reply) => {
      const api = await apiOf(req);
      if (!api) return reply.code(401).send({ code: 'UNAUTHORIZED' });
      try {
        return await run(api, parseInput(schema, req.query, 'query'), reply);
      } catch (err) {
        if (err instanceof IdvError)
          return reply.code(err.status).send({ code: err.code, message: err.message });
        if (!(err instanceof ApiRefused)) throw err;
        return reply.code(err.status).send({ code: err.code, message: err.message });
      }
    };
  }

  app.get(
    '/admin/live/rollout',
    live(rolloutLive, async (api, q) => {
      const r = await api('GET', `/v1/policies/${enc(q.group)}/rollout?revision=${q.revision}`);
      return { acked: r.acked, total: r.total };
    }),
  );

  app.get(
    '/admin/live/events',
    live(eventsLive, async (api, q) => {
      const params = new URLSearchParams({ limit: '200' });
      if (q.after !== undefined) params.set('after', String(q.after));
      if (q.user) params.set('user', q.user);
      if (q.device) params.set('device', q.device);
      const r = await api('GET', `/v1/events?${params}`);
      const all = r.events as (Json & { seq: number })[];
      // Shown as the page shows it: the time in UTC to the second, the outcome's badge.
      const events = all
        .filter((e) => !q.outcome || e.outcome === q.outcome)
        .map((e) => ({ ...e, atText: when(String(e.at)), badge: outcomeClass(String(e.outcome)) }));
      return { events, last: all.at(-1)?.seq ?? null };
    }),
  );

  // The Events page's filter as a file: oldest first, like the API.
  app.get(
    '/admin/events/export',
    live(eventsExport, async (api, q, reply) => {
      const params = new URLSearchParams({ limit: String(EXPORT_LIMIT) });
      if (q.user) params.set('user', q.user);
      if (q.device) params.set('device', q.device);
      if (q.since !== undefined) params.set('since', String(q.since));
      if (q.until !== undefined) params.set('until', String(q.until));
      const r = await api('GET', `/v1/events?${params}`);
      const events = (r.events as Json[]).filter((e) => !q.outcome || e.outcome === q.outcome);
      const name = `idv-events.${q.format}`;
      void reply.header('content-disposition', `attachment; filename="${name}"`);
      if (q.format === 'json')
        return reply.type('application/json; charset=utf-8').send(JSON.stringify({ events }));
      return reply.type('text/csv; charset=utf-8').send(eventsCsv(events));
    }),
  );
}
