/**
 * Admin authentication: `Authorization: Bearer <token>` on every /v1 route except registration.
 * Runs before the body is read and before any lookup the route would do, and answers every
 * failure with the same 401 body, so a caller learns nothing about users or routes.
 *
 * The decision follows the route the router matched, not the raw URL: the router decodes
 * percent-escapes (`/%76%31/users` is `/v1/users`), so a check on the raw text could be walked
 * around. A request that matches no route is judged by its decoded path, so unknown /v1 paths
 * get the same 401 as known ones.
 *
 * Then the role: the route's rule (roles.ts) against the caller's role, before the handler runs.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { IdvError } from '../../protocol/errors.js';
import type { ServerContext } from '../context.js';
import { hashToken } from '../store/crypto.js';
import { ACTOR_HEADER, SOURCE_HEADER, type Actor, type InternalCaller } from './actor.js';
import { addressKey } from './guard.js';
import { allows, ruleFor } from './roles.js';

const BEARER = /^Bearer ([A-Za-z0-9_-]{16,256})$/;
/** Route patterns under /v1 that carry their own credential (or none). */
const PUBLIC = new Set(['/v1/register', '/v1/openapi.json']);

function underV1(path: string): boolean {
  return path === '/v1' || path.startsWith('/v1/');
}

/** The path as the router sees it, or null when it cannot be decoded (treated as /v1). */
function decodedPath(url: string): string | null {
  const path = url.split('?')[0] as string;
  try {
    return decodeURIComponent(path).replace(/\/{2,}/g, '/');
  } catch {
    return null;
  }
}

/** True when this request must carry an admin token. Fails closed when unsure. */
export function needsAdminToken(req: FastifyRequest): boolean {
  const route = req.routeOptions.url;
  if (route !== undefined && route !== '') return underV1(route) && !PUBLIC.has(route);
  const path = decodedPath(req.url);
  return path === null || underV1(path.toLowerCase()) || underV1(req.url.toLowerCase());
}

/** The route rule's key: HEAD is GET. */
export function routeMethod(req: FastifyRequest): string {
  return req.method === 'HEAD' ? 'GET' : req.method;
}

async function actorOf(
  req: FastifyRequest,
  ctx: ServerContext,
  internal: InternalCaller,
  token: string,
): Promise<Actor | null> {
  if (internal.matches(token)) {
    const name = req.headers[ACTOR_HEADER];
    const source = req.headers[SOURCE_HEADER];
    if (typeof name !== 'string' || typeof source !== 'string') return null;
    const admin = await ctx.store.admins.get(name);
    if (!admin || admin.status !== 'active') return null;
    return { id: `admin:${admin.name}`, role: admin.role, source };
  }
  const hash = hashToken(token);
  if (!(await ctx.store.hasAdminToken(hash))) return null;
  return { id: `token:${hash.slice(0, 8)}`, role: 'admin', source: addressKey(req.ip) };
}

export function registerAuth(
  app: FastifyInstance,
  ctx: ServerContext,
  internal: InternalCaller,
): void {
  app.decorateRequest('actor', null);
  app.addHook('onRequest', async (req) => {
    if (!needsAdminToken(req)) return;
    const m = BEARER.exec(req.headers.authorization ?? '');
    const actor = m ? await actorOf(req, ctx, internal, m[1] as string) : null;
    if (!actor) throw new IdvError('UNAUTHORIZED');
    req.actor = actor;
    // An admin's connection (events --follow, keep-alive) no longer counts as a stranger's.
    ctx.connections.trust(req.socket);
    const rule = ruleFor(routeMethod(req), req.routeOptions.url ?? '');
    if (!allows(actor.role, rule.role))
      throw new IdvError('FORBIDDEN', `the ${actor.role} role may not do this (${rule.role} only)`);
  });
}
