/**
 * Console admin accounts over the API (`idvctl admin add | list | unlock | role | remove`): add gives a one-time
 * set-up link (the only time its token exists outside a hash), list never shows a secret.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ADMIN_MAX_ATTEMPTS, nameSchema } from '../../protocol/policy.js';
import type { ServerContext } from '../context.js';
import { ADMIN_ROLES, lockStateOf, type AdminLimits, type AdminState } from '../store/admins.js';
import { hashToken, newToken } from '../store/crypto.js';
import { emptyBody, iso, nameParams, parseInput } from './validate.js';
import { IdvError } from '../../protocol/errors.js';
import { REALM as CONSOLE_REALM } from '../console/session.js';

/** Set-up links work for a day. */
export const SETUP_TTL_SECONDS = 86_400;
export const SETUP_PATH = '/admin/setup/';

export const adminRoleBody = z.strictObject({ role: z.enum(ADMIN_ROLES) });

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

  // Removal and a new role take effect at once on every replica: each console request reads
  // the account from the store, and the account's sessions are deleted with it.
  app.delete('/v1/admins/:name', async (req) => {
    const { name } = parseInput(nameParams, req.params, 'path');
    const was = await ctx.store.admins.removeGuarded(name);
    req.auditWas = { role: was.role };
    const sessions = await ctx.store.sessions.deleteSubject(CONSOLE_REALM, name);
    ctx.log.info({ admin: name, sessions }, 'admin removed');
    return { removed: name, sessions };
  });

  app.put('/v1/admins/:name/role', async (req) => {
    const { name } = parseInput(nameParams, req.params, 'path');
    const { role } = parseInput(adminRoleBody, req.body, 'role');
    const was = await ctx.store.admins.setRole(name, role);
    req.auditWas = { role: was.role };
    ctx.log.info({ admin: name, role, was: was.role }, 'admin role set');
    const admin = await ctx.store.admins.get(name);
    if (!admin) throw new IdvError('ADMIN_NOT_FOUND', `no admin ${name}`);
    return adminView(admin, await adminLimits(ctx), ctx.clock());
  });

  app.post('/v1/admins/:name/unlock', async (req) => {
    const { name } = parseInput(nameParams, req.params, 'path');
    parseInput(emptyBody, req.body, 'unlock');
    const admin = await ctx.store.admins.unlock(name, ctx.clock());
    ctx.log.info({ admin: name }, 'admin unlocked');
    return adminView(admin, await adminLimits(ctx), ctx.clock());
  });
}
