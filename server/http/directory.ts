/** Directory sync on demand (POST /v1/directory/sync) and what the forwarding destinations took. */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { IdvError } from '../../protocol/errors.js';
import type { ServerContext } from '../context.js';
import type { DirectorySync } from '../directory/sync.js';
import type { Forwarder } from '../forward/forwarder.js';
import { iso, parseInput } from './validate.js';

export const syncBody = z.strictObject({
  dryRun: z.boolean().optional(),
  prune: z.boolean().optional(),
  force: z.boolean().optional(),
});

export function registerIntegrationRoutes(
  app: FastifyInstance,
  ctx: ServerContext,
  parts: { directory: DirectorySync | null; forwarder: Forwarder | null },
): void {
  app.post('/v1/directory/sync', async (req) => {
    const body = parseInput(syncBody, req.body, 'directory sync');
    if (!parts.directory)
      throw new IdvError(
        'NOT_CONFIGURED',
        'directory sync is not configured: add a "directory" section to the server config file',
      );
    const report = await parts.directory.sync({
      dryRun: body.dryRun === true,
      prune: body.prune === true,
      force: body.force === true,
    });
    return report;
  });

  app.get('/v1/forward', async () => {
    const last = {
      login: await ctx.store.integrations.lastEventSeq(),
      audit: (await ctx.store.audit.list({ limit: 1 }))[0]?.seq ?? 0,
    };
    return {
      lastEventSeq: last.login,
      lastAuditSeq: last.audit,
      destinations: (parts.forwarder?.statuses() ?? []).map((d) => ({
        ...d,
        behind: d.cursor === null ? null : last[d.stream] - d.cursor,
        lastDeliveredAt: iso(d.lastDeliveredAt),
      })),
    };
  });

  app.get('/v1/mail', async () => ({
    configured: ctx.mail !== null,
    queue: (await ctx.store.integrations.mailQueue()).map((m) => ({
      ...m,
      expiresAt: iso(m.expiresAt),
      nextAttemptAt: iso(m.nextAttemptAt),
      createdAt: iso(m.createdAt),
    })),
  }));
}
