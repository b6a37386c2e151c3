/**
 * Registration tokens: create (the token shown once, only its hash kept), list (never the token
 * or its hash) and revoke. A registration with a revoked, used-up or expired token is refused
 * (TOKEN_INVALID) by the store, in the registration's own transaction.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { nameSchema } from '../../protocol/policy.js';
import type { ServerContext } from '../context.js';
import { hashToken, newToken } from '../store/crypto.js';
import { TOKEN_ID } from '../store/reg-tokens.js';
import type { RegistrationTokenInfo } from '../store/store.js';
import { emptyBody, iso, parseInput } from './validate.js';

export const tokenBody = z.strictObject({
  deviceGroup: nameSchema.optional(),
  uses: z.number().int().min(1).max(100_000).optional(),
  ttlSeconds: z
    .number()
    .int()
    .min(60)
    .max(365 * 86_400)
    .optional(),
});

export const tokenIdParams = z.strictObject({
  id: z.string().regex(TOKEN_ID, 'a token id: 16 hex digits (from device token list)'),
});

export type TokenState = 'active' | 'used up' | 'expired' | 'revoked';

export function tokenState(t: RegistrationTokenInfo, now: number): TokenState {
  if (t.revokedAt !== null) return 'revoked';
  if (t.usesLeft < 1) return 'used up';
  return t.expiresAt <= now ? 'expired' : 'active';
}

export function tokenView(t: RegistrationTokenInfo, now: number) {
  return {
    id: t.id,
    deviceGroup: t.deviceGroup,
    uses: t.uses,
    usesLeft: t.usesLeft,
    expiresAt: iso(t.expiresAt),
    createdAt: iso(t.createdAt),
    createdBy: t.createdBy,
    revokedAt: iso(t.revokedAt),
    state: tokenState(t, now),
  };
}

export function registerTokenRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.post('/v1/device-tokens', async (req, reply) => {
    const body = parseInput(tokenBody, req.body, 'device token');
    const token = newToken();
    const now = ctx.clock();
    const info = await ctx.store.addRegistrationToken(
      hashToken(token),
      {
        deviceGroup: body.deviceGroup ?? 'default',
        uses: body.uses ?? 1,
        expiresAt: now + (body.ttlSeconds ?? 86_400) * 1000,
        createdBy: req.actor?.id ?? '',
      },
      now,
    );
    req.auditTarget = info.id;
    ctx.log.info(
      { tokenId: info.id, deviceGroup: info.deviceGroup, uses: info.uses },
      'registration token created',
    );
    return reply.code(201).send({ token, ...tokenView(info, now) });
  });

  app.get('/v1/device-tokens', async () => {
    const now = ctx.clock();
    return { tokens: (await ctx.store.listRegistrationTokens()).map((t) => tokenView(t, now)) };
  });

  app.post('/v1/device-tokens/:id/revoke', async (req) => {
    const { id } = parseInput(tokenIdParams, req.params, 'path');
    parseInput(emptyBody, req.body, 'revoke');
    const now = ctx.clock();
    const info = await ctx.store.revokeRegistrationToken(id, now);
    ctx.log.info({ tokenId: id }, 'registration token revoked');
    return tokenView(info, now);
  });
}
