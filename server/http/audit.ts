/**
 * The audit hook: every change made through the admin API (idvctl, scripts, the console) is
 * written to the audit log before its answer leaves, refused ones too, with who, when, from
 * where and what (the request's fields, secrets left out, and under `was` the values a change
 * replaced, where its route records them). `GET /v1/audit` reads it.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { ServerContext } from '../context.js';
import { auditDetail, type AuditEntry, type NewAuditEntry } from '../store/audit.js';
import { routeMethod } from './auth.js';
import { ruleFor } from './roles.js';
import { iso, parseInput } from './validate.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** What a change made, when its path and body do not name it (a new token's id). */
    auditTarget: string;
    /** The values a change replaced, field by field (`detail.was` in the audit log). */
    auditWas: Record<string, unknown> | null;
  }
}

function targetOf(req: FastifyRequest): string {
  if (req.auditTarget) return req.auditTarget;
  const p = (req.params ?? {}) as Record<string, unknown>;
  const v = p.name ?? p.id ?? p.group;
  if (typeof v === 'string') return v;
  const b = (req.body ?? {}) as Record<string, unknown>;
  return typeof b.name === 'string' ? b.name : '';
}

/** Appends one entry; a failing audit write fails the request (no unrecorded change). */
export async function audit(ctx: ServerContext, e: Omit<NewAuditEntry, 'at'>): Promise<void> {
  await ctx.store.audit.append({ ...e, at: ctx.clock() });
}

export const auditQuery = z.strictObject({
  after: z
    .string()
    .regex(/^[0-9]{1,15}$/)
    .transform(Number)
    .optional(),
  before: z
    .string()
    .regex(/^[0-9]{1,15}$/)
    .transform(Number)
    .optional(),
  actor: z.string().min(1).max(200).optional(),
  action: z.string().min(1).max(100).optional(),
  limit: z
    .string()
    .regex(/^[0-9]{1,4}$/)
    .transform(Number)
    .refine((n) => n >= 1 && n <= 1000, 'must be 1-1000')
    .optional(),
});

export function auditView(e: AuditEntry) {
  return {
    seq: e.seq,
    at: iso(e.at),
    actor: e.actor,
    role: e.role,
    source: e.source,
    action: e.action,
    target: e.target,
    detail: e.detail,
    result: e.result,
  };
}

export function registerAudit(app: FastifyInstance, ctx: ServerContext): void {
  app.decorateRequest('auditTarget', '');
  app.decorateRequest('auditWas', null);
  app.addHook('onSend', async (req, reply, payload) => {
    const actor = req.actor;
    const method = routeMethod(req);
    if (!actor || method === 'GET') return payload;
    const route = req.routeOptions.url ?? req.url.split('?')[0] ?? '';
    let result = 'ok';
    if (reply.statusCode >= 400) {
      try {
        result =
          (JSON.parse(String(payload)) as { code?: string }).code ?? String(reply.statusCode);
      } catch {
        result = String(reply.statusCode);
      }
    }
    await audit(ctx, {
      actor: actor.id,
      role: actor.role,
      source: actor.source,
      action: ruleFor(method, route).action ?? `${method} ${route}`,
      target: targetOf(req),
      detail: {
        ...auditDetail(req.body),
        ...(req.auditWas && result === 'ok' ? { was: auditDetail(req.auditWas) } : {}),
      },
      result,
    });
    return payload;
  });

  app.get('/v1/audit', async (req) => {
    const q = parseInput(auditQuery, req.query, 'query');
    const entries = await ctx.store.audit.list({
      limit: q.limit ?? 100,
      ...(q.after !== undefined ? { afterSeq: q.after } : {}),
      ...(q.before !== undefined ? { beforeSeq: q.before } : {}),
      ...(q.actor !== undefined ? { actor: q.actor } : {}),
      ...(q.action !== undefined ? { action: q.action } : {}),
    });
    return { entries: entries.map(auditView) };
  });
}
