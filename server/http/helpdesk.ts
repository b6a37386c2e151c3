/**
 * `POST /v1/users/:name/helpdesk-code` (issue 15): a code the helpdesk reads out over the phone,
 * which the user types at the code prompt of one machine; that machine's agent checks it offline
 * against the device secret it got at registration (protocol/helpdesk.ts). The code is in this
 * answer only: never logged, never in the audit entry (whose detail is the body: device and
 * validity), never stored.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { IdvError } from '../../protocol/errors.js';
import {
  HELPDESK_DEFAULT_SECONDS,
  HELPDESK_MAX_SECONDS,
  HELPDESK_MIN_SECONDS,
  formatHelpdeskCode,
  issueHelpdeskCode,
} from '../../protocol/helpdesk.js';
import type { ServerContext } from '../context.js';
import { entitledGroups } from '../sync/view.js';
import { iso, nameParams, parseInput } from './validate.js';

export const helpdeskCodeBody = z.strictObject({
  /** The device the user is at (idvctl device list). */
  device: z.uuid(),
  /** How long the code stays valid, in seconds: 60 to 86400 (default 900). */
  validSeconds: z
    .number()
    .int()
    .min(HELPDESK_MIN_SECONDS, 'must be at least 60 (1m)')
    .max(HELPDESK_MAX_SECONDS, 'must be at most 86400 (24h)')
    .optional(),
});
export type HelpdeskCodeBody = z.infer<typeof helpdeskCodeBody>;

export function registerHelpdeskRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.post('/v1/users/:name/helpdesk-code', async (req) => {
    const { name } = parseInput(nameParams, req.params, 'path');
    const body = parseInput(helpdeskCodeBody, req.body, 'helpdesk-code');
    const user = await ctx.store.getUser(name);
    if (!user) throw new IdvError('USER_NOT_FOUND', `no user ${name}`);
    const device = await ctx.store.getDevice(body.device);
    if (!device) throw new IdvError('DEVICE_NOT_FOUND', `no device ${body.device}`);
    if (device.revokedAt !== null)
      throw new IdvError('DEVICE_REVOKED', `device ${device.id} (${device.name}) is revoked`);
    const { policy } = await ctx.store.getPolicy(device.deviceGroup);
    if (!entitledGroups(policy, user.groups))
      throw new IdvError(
        'VALIDATION_FAILED',
        `${name} may not log in on device ${device.id} (${device.name}): its device group ${device.deviceGroup} admits the user groups ${policy.userGroups.join(', ')}`,
      );
    if (user.status !== 'active')
      throw new IdvError('VALIDATION_FAILED', `${name} is suspended: resume the user first`);
    if (user.totp === null)
      throw new IdvError(
        'NOT_ENROLLED',
        `${name} has no authenticator app, so no code is asked of ${name}; send an enrollment link instead`,
      );
    const secret = await ctx.store.getHelpdeskSecret(device.id);
    if (!secret)
      throw new IdvError(
        'HELPDESK_UNAVAILABLE',
        `device ${device.id} (${device.name}) has no helpdesk secret yet (registered before helpdesk codes): its agent gets one when it next connects, if it speaks sync protocol 4 (upgrade it otherwise)`,
      );
    const { code, expiresAt } = issueHelpdeskCode(
      secret,
      device.id,
      user.name,
      ctx.clock(),
      body.validSeconds ?? HELPDESK_DEFAULT_SECONDS,
    );
    ctx.log.info({ user: name, device: device.id, expiresAt }, 'helpdesk code issued');
    return { code: formatHelpdeskCode(code), expiresAt: iso(expiresAt) };
  });
}
