/**
 * Admin API additions for the portal (bearer-authenticated like every /v1 route):
 * `POST /v1/users/:name/recovery-codes` (regenerate, returns the ten codes once),
 * `GET /v1/users/:name/recovery-codes` (how many are left), `PUT /v1/users/:name/role`.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { IdvError } from '../../protocol/errors.js';
import type { ServerContext } from '../context.js';
import { nameParams, parseInput } from '../http/validate.js';
import type { Hub } from '../sync/hub.js';
import { issueRecoveryCodes } from './recovery.js';

export const regenerateBody = z.strictObject({ regenerate: z.literal(true) });
export const roleBody = z.strictObject({ role: z.enum(['user', 'admin']) });

export function registerPortalAdminRoutes(
  app: FastifyInstance,
  ctx: ServerContext,
  hub: Hub,
): void {
  app.post('/v1/users/:name/recovery-codes', async (req) => {
    const { name } = parseInput(nameParams, req.params, 'path');
    parseInput(regenerateBody, req.body, 'recovery-codes');
    const user = await ctx.store.getUser(name);
    if (!user) throw new IdvError('USER_NOT_FOUND', `no user ${name}`);
    if (!user.totp)
      throw new IdvError(
        'NOT_ENROLLED',
        `${name} has no authenticator app yet; recovery codes come with enrollment`,
      );
    const codes = await issueRecoveryCodes(ctx, hub, name);
    return { user: name, codes };
  });

  app.get('/v1/users/:name/recovery-codes', async (req) => {
    const { name } = parseInput(nameParams, req.params, 'path');
    const user = await ctx.store.getUser(name);
    if (!user) throw new IdvError('USER_NOT_FOUND', `no user ${name}`);
    return { user: name, remaining: user.recoveryCodes.length };
  });

  app.put('/v1/users/:name/role', async (req) => {
    const { name } = parseInput(nameParams, req.params, 'path');
    const { role } = parseInput(roleBody, req.body, 'role');
    const user = await ctx.store.setRole(name, role, ctx.clock());
    ctx.log.info({ user: name, role }, 'user role set');
    return { name: user.name, role: user.role };
  });
}
