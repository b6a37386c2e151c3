/**
 * Who is calling the admin API. A bearer token acts as `admin`; the console calls the same
 * routes in-process (`app.inject`) with a per-process key no client ever sees, naming the
 * signed-in admin, whose role is then read from the store. So a console page and the idvctl
 * command that matches it run the very same handler, role check and audit hook.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, InjectOptions } from 'fastify';
import type { Role } from './roles.js';

export interface Actor {
  /** `admin:NAME` or `token:abcd1234` (the first 8 hex digits of the token's hash). */
  id: string;
  role: Role;
  /** The client address (for the console: the browser's). */
  source: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    actor: Actor | null;
  }
}

export const ACTOR_HEADER = 'x-idv-console-admin';
export const SOURCE_HEADER = 'x-idv-console-source';

/** The console's way into the API; the key lives only in this process's memory. */
export class InternalCaller {
  private readonly key = `idv_${randomBytes(32).toString('base64url')}`;
  private app: FastifyInstance | null = null;

  attach(app: FastifyInstance): void {
    this.app = app;
  }

  /** True when `token` is this process's key (constant time). */
  matches(token: string): boolean {
    const a = Buffer.from(token);
    const b = Buffer.from(this.key);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /** One API call as admin `name` from `source`; the API's status and JSON body. */
  async call(
    name: string,
    source: string,
    method: InjectOptions['method'],
    url: string,
    body?: unknown,
  ): Promise<{ status: number; json: Record<string, unknown> }> {
    if (!this.app) throw new Error('InternalCaller used before attach');
    const res = await this.app.inject({
      method,
      url,
      headers: {
        authorization: `Bearer ${this.key}`,
        [ACTOR_HEADER]: name,
        [SOURCE_HEADER]: source,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
    });
    let json: Record<string, unknown> = {};
    try {
      json = res.body ? (JSON.parse(res.body) as Record<string, unknown>) : {};
    } catch {
      json = {};
    }
    return { status: res.statusCode, json };
  }
}
