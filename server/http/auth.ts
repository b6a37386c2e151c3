/**
 * Admin authentication: `Authorization: Bearer <token>` on every /v1 route except registration.
 * Runs before the body is read and before any lookup the route would do, and answers every
 * failure with the same 401 body, so a caller learns nothing about users or routes.
 */
import type { FastifyInstance } from 'fastify';
import { IdvError } from '../../protocol/errors.js';
import type { ServerContext } from '../context.js';
import { hashToken } from '../store/crypto.js';

const BEARER = /^Bearer ([A-Za-z0-9_-]{16,256})$/;
const PUBLIC = new Set(['/v1/register']);

export function registerAuth(app: FastifyInstance, ctx: ServerContext): void {
  app.addHook('onRequest', async (req) => {
    const path = req.url.split('?')[0] as string;
    if (!path.startsWith('/v1/') && path !== '/v1') return;
    if (PUBLIC.has(path)) return;
    const m = BEARER.exec(req.headers.authorization ?? '');
    if (!m || !(await ctx.store.hasAdminToken(hashToken(m[1] as string)))) {
      throw new IdvError('UNAUTHORIZED');
    }
  });
}
