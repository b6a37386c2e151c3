/** Users, user groups, enrollment, MFA reset and unlock. */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { IdvError } from '../../protocol/errors.js';
import { GRACE_ENDED } from '../../protocol/messages.js';
import { nameSchema } from '../../protocol/policy.js';
import { buildOtpauthUri, verifyCode } from '../../protocol/totp.js';
import type { ServerContext } from '../context.js';
import { startEnrollment } from '../enrollment.js';
import type { UserState } from '../store/store.js';
import type { Hub } from '../sync/hub.js';
import { ALL_DEVICES } from './events.js';
import { emptyBody, iso, nameParams, parseInput } from './validate.js';

const groupsSchema = z
  .array(nameSchema)
  .max(64)
  .refine((g) => new Set(g).size === g.length, 'groups must not repeat');
export const addUserBody = z.strictObject({ name: nameSchema, groups: groupsSchema.optional() });
export const groupsBody = z.strictObject({ groups: groupsSchema });
export const enrollBody = z.strictObject({
  showSecret: z.boolean().optional(),
  /** Mail the link to this address (remembered for later links). */
  email: z.email().max(254).optional(),
  /** Mail the link to the address already known (from --email or the directory), if any. */
  sendMail: z.boolean().optional(),
  /** The link follows an MFA reset (the mail says so). */
  reset: z.boolean().optional(),
});
export const confirmBody = z.strictObject({
  code: z.string().regex(/^[0-9]{6,8}$/, 'must be the 6-8 digit code from the app'),
});
export const resetBody = z.strictObject({ grace: z.boolean().optional() });
export const unlockBody = z.strictObject({ device: z.uuid().optional() });

/** A user as the admin API shows it: never a secret. */
export function userView(u: UserState) {
  return {
    name: u.name,
    groups: u.groups,
    status: u.status,
    enrolled: u.totp !== null,
    enrollmentPending: u.pending,
    /** null when a reset ended the grace: no login without a code until the new app is set up. */
    graceStartedAt: u.graceStartedAt === GRACE_ENDED ? null : iso(u.graceStartedAt),
    unlockedAt: iso(u.unlockedAt),
    deviceUnlocks: Object.fromEntries(
      Object.entries(u.deviceUnlocks).map(([d, at]) => [d, iso(at)]),
    ),
    createdAt: iso(u.createdAt),
    enrolledAt: iso(u.enrolledAt),
    /** Consecutive failed codes over all devices, and when they locked the account. */
    accountFailures: u.accountFailures,
    accountLockedAt: iso(u.accountLockedAt),
  };
}

async function mustGet(ctx: ServerContext, name: string): Promise<UserState> {
  const u = await ctx.store.getUser(name);
  if (!u) throw new IdvError('USER_NOT_FOUND', `no user ${name}`);
  return u;
}

export function registerUserRoutes(app: FastifyInstance, ctx: ServerContext, hub: Hub): void {
  app.get('/v1/users', async () => ({ users: (await ctx.store.listUsers()).map(userView) }));

  app.post('/v1/users', async (req, reply) => {
    const body = parseInput(addUserBody, req.body, 'user');
    const user = await ctx.store.addUser(body.name, body.groups ?? [], ctx.clock());
    await hub.changed();
    ctx.log.info({ user: user.name, groups: user.groups }, 'user added');
    return reply.code(201).send(userView(user));
  });

  app.get('/v1/users/:name', async (req) => {
    const { name } = parseInput(nameParams, req.params, 'path');
    return userView(await mustGet(ctx, name));
  });

  app.delete('/v1/users/:name', async (req) => {
    const { name } = parseInput(nameParams, req.params, 'path');
    await ctx.store.removeUser(name, ctx.clock());
    await hub.changed();
    ctx.log.info({ user: name }, 'user removed');
    return { removed: name };
  });

  for (const [action, status] of [
    ['suspend', 'suspended'],
    ['resume', 'active'],
  ] as const) {
    app.post(`/v1/users/:name/${action}`, async (req) => {
      const { name } = parseInput(nameParams, req.params, 'path');
      parseInput(emptyBody, req.body, action);
      const user = await ctx.store.updateUser(name, { kind: 'status', status }, ctx.clock());
      await hub.changed();
      ctx.log.info({ user: name, status }, `user ${action}ed`);
      return userView(user);
    });
  }

  app.put('/v1/users/:name/groups', async (req) => {
    const { name } = parseInput(nameParams, req.params, 'path');
    const { groups } = parseInput(groupsBody, req.body, 'groups');
    const before = await ctx.store.getUser(name);
    if (before) req.auditWas = { groups: before.groups };
    const user = await ctx.store.updateUser(name, { kind: 'groups', groups }, ctx.clock());
    await hub.changed();
    ctx.log.info({ user: name, groups }, 'user groups set');
    return userView(user);
  });

  app.post('/v1/users/:name/enroll', async (req) => {
    const { name } = parseInput(nameParams, req.params, 'path');
    const body = parseInput(enrollBody, req.body, 'enroll');
    await mustGet(ctx, name);
    if (body.email !== undefined && !ctx.mail)
      throw new IdvError(
        'NOT_CONFIGURED',
        'mail is not configured: add a "mail" section to the server config file',
      );
    const { link, expiresAt, totp } = await startEnrollment(ctx, name);
    ctx.log.info({ user: name, showSecret: body.showSecret === true }, 'enrollment started');
    if (body.email !== undefined)
      await ctx.store.integrations.setUserEmail(name, body.email, ctx.clock());
    const address =
      body.email ??
      (body.sendMail && ctx.mail ? await ctx.store.integrations.getUserEmail(name) : null);
    const mail =
      address && ctx.mail
        ? await ctx.mail.queueEnrollment({
            user: name,
            address,
            kind: body.reset ? 'reset' : 'enroll',
            link,
            expiresAt,
          })
        : null;
    return {
      user: name,
      link,
      expiresAt: iso(expiresAt),
      mail,
      ...(body.showSecret
        ? { otpauthUri: buildOtpauthUri(ctx.config.issuer, name, totp), secret: totp.secret }
        : {}),
    };
  });

  app.post('/v1/users/:name/confirm', async (req) => {
    const { name } = parseInput(nameParams, req.params, 'path');
    const { code } = parseInput(confirmBody, req.body, 'confirm');
    const pending = await ctx.store.getPendingTotp(name);
    if (!pending)
      throw new IdvError(
        'ENROLLMENT_PENDING',
        `no enrollment is in progress for ${name}; run user enroll first`,
      );
    const result = verifyCode(pending, code, ctx.clock(), 1);
    if (!result.ok) {
      ctx.log.info({ user: name, reason: result.reason }, 'enrollment code refused');
      throw new IdvError(
        'CODE_INVALID',
        'the code does not match the new secret; check the app and the clock',
      );
    }
    const user = await ctx.store.updateUser(
      name,
      { kind: 'activate', expectedSecret: pending.secret },
      ctx.clock(),
    );
    await hub.changed();
    ctx.log.info({ user: name }, 'enrollment confirmed');
    return userView(user);
  });

  app.post('/v1/users/:name/reset-mfa', async (req) => {
    const { name } = parseInput(nameParams, req.params, 'path');
    const body = parseInput(resetBody, req.body, 'reset-mfa');
    const user = await ctx.store.updateUser(
      name,
      { kind: 'reset', newGrace: body.grace === true },
      ctx.clock(),
    );
    await hub.changed();
    ctx.log.info({ user: name, newGrace: body.grace === true }, 'MFA reset');
    return userView(user);
  });

  app.post('/v1/users/:name/unlock', async (req) => {
    const { name } = parseInput(nameParams, req.params, 'path');
    const body = parseInput(unlockBody, req.body, 'unlock');
    await mustGet(ctx, name);
    if (body.device && !(await ctx.store.getDevice(body.device))) {
      throw new IdvError('DEVICE_NOT_FOUND', `no device ${body.device}`);
    }
    const user = await ctx.store.updateUser(
      name,
      { kind: 'unlock', ...(body.device ? { deviceId: body.device } : {}) },
      ctx.clock(),
    );
    await hub.changed();
    // In the events feed too, next to the lockout it ends (`idvctl events`).
    const now = ctx.clock();
    await ctx.store.addEvents(
      body.device ?? ALL_DEVICES,
      [
        {
          id: randomUUID(),
          at: now,
          user: name,
          service: 'admin',
          outcome: 'unlock',
          reason: 'admin',
        },
      ],
      now,
    );
    ctx.log.info({ user: name, device: body.device ?? 'all' }, 'user unlocked');
    return userView(user);
  });

  app.get('/v1/groups', async () => {
    const users = await ctx.store.listUsers();
    const devices = await ctx.store.listDevices();
    const userGroups = new Map<string, number>();
    for (const u of users)
      for (const g of u.groups) userGroups.set(g, (userGroups.get(g) ?? 0) + 1);
    const deviceGroups = [];
    for (const g of await ctx.store.listDeviceGroups()) {
      const { explicit } = await ctx.store.getPolicy(g);
      deviceGroups.push({
        name: g,
        devices: devices.filter((d) => d.deviceGroup === g && d.revokedAt === null).length,
        policy: explicit ? 'custom' : 'default',
      });
    }
    return {
      userGroups: [...userGroups]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([name, count]) => ({ name, users: count })),
      deviceGroups,
    };
  });
}
