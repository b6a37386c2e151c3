/**
 * Console admin accounts over the API (`idvctl admin add | list | unlock`): add gives a one-time
 * set-up link (the only time its token exists outside a hash), list never shows a secret.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ADMIN_MAX_ATTEMPTS, nameSchema } from '../../protocol/policy.js';
import type { ServerContext } from '../context.js';
import { ADMIN_ROLES, lockStateOf, type AdminLimits, type AdminState } from '../store/admins.js';
import { hashToken, newToken } from '../store/crypto.js';
import { emptyBody, iso, nameParams, parseInput } from './validate.js';

/** Set-up links work for a day. */
export const SETUP_TTL_SECONDS = 86_400;
export const SETUP_PATH = '/admin/setup/';

export const addAdminBody = z.strictObject({
  name: nameSchema,
  role: z.enum(ADMIN_ROLES).optional(),
});

/**
 * Five attempts (source document; the device policy's maxAttempts is about logins, not the
 * console); the lockout length is the `default` device group's policy.
 */
export async function adminLimits(ctx: ServerContext): Promise<AdminLimits> {
  const { policy } = await ctx.store.getPolicy('default');
  return { maxAttempts: ADMIN_MAX_ATTEMPTS, lockoutSeconds: policy.lockoutSeconds };
}

export function adminView(a: AdminState, limits: AdminLimits, now: number) {
  const lock = lockStateOf(a, limits, now);
  return {
    name: a.name,
    role: a.role,
    status: a.status,
    locked: lock.locked,
    lockedUntil: lock.locked ? iso(lock.until) : null,
    failures: lock.locked || a.lockedAt === null ? a.failures : 0,
    recoveryCodesLeft: a.recoveryCodes.length,
    createdAt: iso(a.createdAt),
    createdBy: a.createdBy,
    lastSignInAt: iso(a.lastSignInAt),
  };
}

/** A new account (or a fresh link for one not set up yet) and its set-up link. */
export async function addAdmin(
  ctx: ServerContext,
  name: string,
  role: AdminState['role'],
  by: string,
  base: string,
): Promise<{ admin: AdminState; link: string; expiresAt: number }> {
  const token = newToken();
  const now = ctx.clock();
  const expiresAt = now + SETUP_TTL_SECONDS * 1000;
  const admin = await ctx.store.admins.create(
    name,
    role,
    { tokenHash: hashToken(token), expiresAt },
    by,
    now,
  );
  return { admin, link: `${base}${SETUP_PATH}${token}`, expiresAt };
}

export function registerAdminRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/v1/admins', async () => {
    const limits = await adminLimits(ctx);
    const now = ctx.clock();
    return { admins: (await ctx.store.admins.list()).map((a) => adminView(a, limits, now)) };
  });

  app.post('/v1/admins', async (req, reply) => {
    const body = parseInput(addAdminBody, req.body, 'admin');
    const { admin, link, expiresAt } = await addAdmin(
      ctx,
      body.name,
      body.role ?? 'admin',
      req.actor?.id ?? 'unknown',
      ctx.publicUrl(),
    );
    ctx.log.info({ admin: admin.name, role: admin.role }, 'admin added (set-up link issued)');
    return reply.code(201).send({
      ...adminView(admin, await adminLimits(ctx), ctx.clock()),
      link,
      linkExpiresAt: iso(expiresAt),
    });
  });

  app.post('/v1/admins/:name/unlock', async (req) => {
    const { name } = parseInput(nameParams, req.params, 'path');
    parseInput(emptyBody, req.body, 'unlock');
    const admin = await ctx.store.admins.unlock(name, ctx.clock());
    ctx.log.info({ admin: name }, 'admin unlocked');
    return adminView(admin, await adminLimits(ctx), ctx.clock());
  });
}
