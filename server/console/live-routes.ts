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

const rolloutLive = rolloutQuery.extend({ group: nameSchema });
const eventsLive = eventQuery
  .pick({ user: true, device: true, after: true })
  .extend({ outcome: z.enum(OUTCOMES).optional() });

export function registerLive(
  app: FastifyInstance,
  apiOf: (req: FastifyRequest) => Promise<Api | null>,
): void {
  /** A JSON route: 401 without a session, else `run` with the parsed query; refusals as JSON. */
  function live<T>(
    schema: z.ZodType<T>,
    run: (api: Api, q: T) => Promise<Json>,
  ): (req: FastifyRequest, reply: FastifyReply) => Promise<unknown> {
    return async (req, reply) => {
      const api = await apiOf(req);
      if (!api) return reply.code(401).send({ code: 'UNAUTHORIZED' });
      try {
        return await run(api, parseInput(schema, req.query, 'query'));
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
      const events = all.filter((e) => !q.outcome || e.outcome === q.outcome);
      return { events, last: all.at(-1)?.seq ?? null };
    }),
  );
}
