/** Policy per device group: show (with defaults) and set (a partial patch, every field checked). */
import type { FastifyInstance } from 'fastify';
import { policyPatchSchema } from '../../protocol/policy.js';
import type { ServerContext } from '../context.js';
import type { Hub } from '../sync/hub.js';
import { IdvError } from '../../protocol/errors.js';
import { groupParams, parseInput } from './validate.js';

export function registerPolicyRoutes(app: FastifyInstance, ctx: ServerContext, hub: Hub): void {
  app.get('/v1/policies/:group', async (req) => {
    const { group } = parseInput(groupParams, req.params, 'path');
    const { policy, explicit } = await ctx.store.getPolicy(group);
    return { deviceGroup: group, policy, explicit };
  });

  app.patch('/v1/policies/:group', async (req) => {
    const { group } = parseInput(groupParams, req.params, 'path');
    const patch = parseInput(policyPatchSchema, req.body, 'policy');
    if (Object.keys(patch).length === 0)
      throw new IdvError('VALIDATION_FAILED', 'policy: give at least one field to set');
    const policy = await ctx.store.setPolicy(group, patch, ctx.clock());
    await hub.changed();
    ctx.log.info({ deviceGroup: group, fields: Object.keys(patch) }, 'policy set');
    return { deviceGroup: group, policy, explicit: true };
  });
}
