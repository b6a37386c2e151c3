/** Policy per device group: show (with defaults) and set (a partial patch, every field checked). */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { policyPatchSchema, type Policy } from '../../protocol/policy.js';
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
    const before = (await ctx.store.getPolicy(group)).policy;
    req.auditWas = Object.fromEntries(
      Object.keys(patch).map((k) => [k, before[k as keyof Policy]]),
    );
    const policy = await ctx.store.setPolicy(group, patch, ctx.clock());
    const revision = await ctx.store.revision();
    await hub.changed();
    ctx.log.info({ deviceGroup: group, fields: Object.keys(patch) }, 'policy set');
    const { total } = await rollout(ctx, hub, group, revision);
    // `pushedTo`: the devices of the group, each of which gets the change (now or when it
    // connects); `revision`: what they ack once applied (GET .../rollout?revision=).
    return { deviceGroup: group, policy, explicit: true, revision, pushedTo: total };
  });

  app.get('/v1/policies/:group/rollout', async (req) => {
    const { group } = parseInput(groupParams, req.params, 'path');
    const { revision } = parseInput(rolloutQuery, req.query, 'query');
    return { deviceGroup: group, ...(await rollout(ctx, hub, group, revision)) };
  });
}

export const rolloutQuery = z.strictObject({
  revision: z
    .string()
    .regex(/^[0-9]{1,15}$/, 'must be a whole number')
    .transform(Number),
});

/** How many of the group's devices (not revoked) have applied `revision` or later. */
export async function rollout(ctx: ServerContext, hub: Hub, group: string, revision: number) {
  const devices = (await ctx.store.listDevices()).filter(
    (d) => d.deviceGroup === group && d.revokedAt === null,
  );
  const acked = devices.filter(
    (d) => Math.max(d.ackedRevision, hub.ackedRevision(d.id) ?? 0) >= revision,
  ).length;
  return { revision, total: devices.length, acked };
}
