/**
 * JSON for the live pages' script (console.js), read through the API like the pages: the push
 * progress of a policy change and the events after a store order. Same session, same roles.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { enc, type Api } from './kit.js';

const SEQ = /^[0-9]{1,15}$/;

export function registerLive(
  app: FastifyInstance,
  apiOf: (req: FastifyRequest) => Promise<Api | null>,
): void {
  app.get('/admin/live/rollout', async (req, reply) => {
    const api = await apiOf(req);
    if (!api) return reply.code(401).send({ code: 'UNAUTHORIZED' });
    const q = req.query as Record<string, string | undefined>;
    const r = await api(
      'GET',
      `/v1/policies/${enc(q.group ?? '')}/rollout?revision=${enc(q.revision ?? '')}`,
    );
    return { acked: r.acked, total: r.total };
  });

  app.get('/admin/live/events', async (req, reply) => {
    const api = await apiOf(req);
    if (!api) return reply.code(401).send({ code: 'UNAUTHORIZED' });
    const q = req.query as Record<string, string | undefined>;
    const params = new URLSearchParams({ limit: '200' });
    if (q.after && SEQ.test(q.after)) params.set('after', q.after);
    if (q.user) params.set('user', q.user);
    if (q.device) params.set('device', q.device);
    const r = await api('GET', `/v1/events?${params}`);
    const events = (r.events as Record<string, unknown>[]).filter(
      (e) => !q.outcome || e.outcome === q.outcome,
    );
    return { events, last: (r.events as { seq: number }[]).at(-1)?.seq ?? null };
  });
}
