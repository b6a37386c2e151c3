/**
 * The HTTP listener: admin API under /v1 (bearer), agent registration, /healthz, /metrics, and
 * the WebSocket upgrade for /v1/agent. JSON only; every error is `{code, message}` from the
 * catalog; unknown routes are 404 NOT_FOUND.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type RequestListener } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { ERRORS, IdvError, type ErrorCode } from '../../protocol/errors.js';
import type { ServerContext } from '../context.js';
import { registerConsole } from '../console/index.js';
import { registerPortal } from '../portal/index.js';
import type { Hub } from '../sync/hub.js';
import { InternalCaller } from './actor.js';
import { registerAdminRoutes } from './admins.js';
import { registerAudit } from './audit.js';
import { registerAuth } from './auth.js';
import type { DirectorySync } from '../directory/sync.js';
import type { Forwarder } from '../forward/forwarder.js';
import { registerDeviceRoutes } from './devices.js';
import { registerIntegrationRoutes } from './directory.js';
import { registerEventRoutes } from './events.js';
import { registerHealth } from './health.js';
import { registerHelpdeskRoutes } from './helpdesk.js';
import { registerOpenApiRoute } from './openapi.js';
import { registerPolicyRoutes } from './policy.js';
import { registerUserRoutes } from './users.js';

function send(code: ErrorCode, message?: string, status?: number) {
  return {
    status: status ?? ERRORS[code].status,
    body: { code, message: message ?? ERRORS[code].message },
  };
}

/** Maps anything thrown in a route to a status and a catalog body; never echoes input. */
function toErrorReply(err: unknown): {
  status: number;
  body: { code: ErrorCode; message: string };
} {
  if (err instanceof IdvError) return send(err.code, err.message);
  const e = err as { code?: string; statusCode?: number };
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return send('TOO_LARGE', 'the request body is larger than allowed');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return send('INVALID_MESSAGE', 'the request body must be application/json', 415);
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return send('MALFORMED_JSON');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return send('INVALID_MESSAGE', 'bad content-length');
  }
  if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500)
    return send('INVALID_MESSAGE', 'bad request', e.statusCode);
  return send('INTERNAL');
}

/** Every route the app serves (method, fastify url), in registration order. */
const served = new WeakMap<FastifyInstance, { method: string; url: string }[]>();
export function servedRoutes(app: FastifyInstance): readonly { method: string; url: string }[] {
  return served.get(app) ?? [];
}

export function buildApp(
  ctx: ServerContext,
  hub: Hub,
  parts: { directory: DirectorySync | null; forwarder: Forwarder | null } = {
    directory: null,
    forwarder: null,
  },
  internal: InternalCaller = new InternalCaller(),
): FastifyInstance {
  const tls =
    ctx.config.tlsCert && ctx.config.tlsKey
      ? { key: readFileSync(ctx.config.tlsKey), cert: readFileSync(ctx.config.tlsCert) }
      : null;
  const { headersTimeoutSeconds, requestTimeoutSeconds } = ctx.config;
  // Half-sent requests are cut off after these (Node checks them every connectionsCheckingInterval,
  // 30 s by default: far too coarse for a ten-second header timeout).
  const timeouts = {
    headersTimeout: headersTimeoutSeconds * 1000,
    requestTimeout: requestTimeoutSeconds * 1000,
    connectionsCheckingInterval: Math.max(50, Math.min(1000, headersTimeoutSeconds * 500)),
    keepAliveTimeout: 72_000, // Fastify's default: longer than the usual proxy's 60 s
  };
  const app = Fastify({
    bodyLimit: ctx.config.bodyLimit,
    logger: false,
    serverFactory: (handler) => {
      const listener = handler as RequestListener;
      const server = tls
        ? createHttpsServer({ ...tls, ...timeouts }, listener)
        : createHttpServer(timeouts, listener);
      server.keepAliveTimeout = timeouts.keepAliveTimeout;
      ctx.connections.attach(server);
      return server;
    },
  }) as unknown as FastifyInstance;

  // JSON only: drop the text/plain parser, and parse JSON ourselves for one clear error.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    if (body === '') return done(null, undefined);
    try {
      done(null, JSON.parse(body as string));
    } catch {
      done(new IdvError('MALFORMED_JSON'), undefined);
    }
  });

  app.setErrorHandler((err, req, reply) => {
    const { status, body } = toErrorReply(err);
    if (status >= 500) {
      ctx.log.error(
        {
          method: req.method,
          route: req.routeOptions.url,
          err: { name: (err as Error)?.name, message: (err as Error)?.message },
        },
        'request failed',
      );
    }
    void reply.code(status).send(body);
  });
  app.setNotFoundHandler((_req, reply) => {
    void reply.code(404).send({ code: 'NOT_FOUND', message: ERRORS.NOT_FOUND.message });
  });

  const routes: { method: string; url: string }[] = [];
  served.set(app, routes);
  app.addHook('onRoute', (r) => {
    for (const method of [r.method].flat())
      if (method !== 'HEAD') routes.push({ method, url: r.url });
  });

  internal.attach(app);
  registerAuth(app, ctx, internal);
  registerAudit(app, ctx);
  registerHealth(app, ctx, hub);
  app.get('/metrics', async (_req, reply) => {
    const text = await ctx.metrics.registry.metrics();
    return reply.header('content-type', ctx.metrics.registry.contentType).send(text);
  });
  registerUserRoutes(app, ctx, hub);
  registerDeviceRoutes(app, ctx, hub);
  registerHelpdeskRoutes(app, ctx);
  registerPolicyRoutes(app, ctx, hub);
  registerEventRoutes(app, ctx);
  registerOpenApiRoute(app);
  registerIntegrationRoutes(app, ctx, parts);
  registerAdminRoutes(app, ctx);
  registerPortal(app, ctx, hub);
  registerConsole(app, ctx, internal);

  app.server.on('upgrade', (req, socket, head) => hub.handleUpgrade(req, socket, head));
  return app;
}
