/**
 * The admin console at /admin, on the server's listener: server-rendered pages (Overview, Users,
 * Devices, Policy, Events, Audit, Admins) for signed-in admins. Every page reads, and every form
 * acts, through the admin API's own routes (`InternalCaller`), so a page does exactly what the
 * matching idvctl command does, with the same validation, role check and audit entry.
 *
 * Hygiene as the portal (server/portal/http.ts): CSP with `frame-ancestors 'none'`, no inline
 * script or style (the one script is a file, only on live pages), `Cache-Control: no-store`,
 * CSRF token on every form plus the same-origin check, sessions in the store.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { IdvError } from '../../protocol/errors.js';
import type { ServerContext } from '../context.js';
import type { InternalCaller } from '../http/actor.js';
import { audit } from '../http/audit.js';
import { addressKey } from '../http/guard.js';
import { allows } from '../http/roles.js';
import {
  CSP,
  crossSite,
  html,
  parseForm,
  securityHeaders,
  see,
  signOutRoute,
} from '../portal/http.js';
import { csrfMatches } from '../portal/sessions.js';
import { ACTIONS, PAGES, type PageRule } from './routes.js';
import { ApiRefused, type Api, type PageCtx } from './kit.js';
import { CONSOLE_CSS_PATH, CONSOLE_JS_PATH, consolePage, type Viewer } from './layout.js';
import { LIVE_JS } from './live.js';
import { registerLive } from './live-routes.js';
import { ConsoleSessions } from './session.js';
import { endedPage, refusedPage } from './signin-pages.js';
import { registerSignIn } from './signin.js';
import { CONSOLE_CSS } from './style.js';

/** The portal's policy plus the console's own script file (live pages). */
export const CONSOLE_CSP = CSP.replace(
  "default-src 'none';",
  "default-src 'none'; script-src 'self'; connect-src 'self';",
);
const FORM_LIMIT = 16 * 1024;

export function registerConsole(
  app: FastifyInstance,
  ctx: ServerContext,
  internal: InternalCaller,
): void {
  void app.register(async (scope) => consoleRoutes(scope, ctx, internal));
}

function consoleRoutes(app: FastifyInstance, ctx: ServerContext, internal: InternalCaller): void {
  const log = ctx.log.child({ part: 'console' });
  const secure = () => ctx.config.tlsCert !== undefined || ctx.publicUrl().startsWith('https:');
  const sessions = new ConsoleSessions(ctx.store.sessions, ctx.clock, secure);

  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: FORM_LIMIT },
    (_req, body, done) => done(null, parseForm(body as string)),
  );
  app.addHook('onRequest', async (req, reply) => {
    if (req.url.startsWith('/admin')) securityHeaders(reply, false, CONSOLE_CSP);
  });
  app.setErrorHandler((err, req, reply) => {
    const status =
      err instanceof IdvError ? err.status : ((err as { statusCode?: number }).statusCode ?? 500);
    if (status >= 500)
      log.error(
        { route: req.routeOptions.url, err: { name: (err as Error).name } },
        'console request failed',
      );
    void html(
      reply,
      status >= 400 && status < 600 ? status : 500,
      refusedPage(
        status,
        status >= 500
          ? 'The server could not finish this. Try again.'
          : 'The request was not understood.',
      ),
    );
  });

  app.get(CONSOLE_CSS_PATH, async (_req, reply) => {
    securityHeaders(reply, true, CONSOLE_CSP);
    return reply
      .header('cache-control', 'public, max-age=3600')
      .type('text/css; charset=utf-8')
      .send(CONSOLE_CSS);
  });
  app.get(CONSOLE_JS_PATH, async (_req, reply) => {
    securityHeaders(reply, true, CONSOLE_CSP);
    return reply
      .header('cache-control', 'public, max-age=3600')
      .type('text/javascript; charset=utf-8')
      .send(LIVE_JS);
  });

  registerSignIn(app, ctx, sessions, secure);

  const source = (req: FastifyRequest) => addressKey(req.ip);
  /** --public-url, else the address this request came to (what the admin's browser used). */
  const serverUrl = (req: FastifyRequest) =>
    (ctx.config.publicUrl ?? `${req.protocol}://${req.host}`).replace(/\/+$/, '');

  /** The signed-in admin of this request, or null (no session, not signed in, account gone). */
  async function signedIn(req: FastifyRequest) {
    const s = await sessions.current(req);
    if (!s || s.stage !== 'in' || !s.admin) return null;
    const admin = await ctx.store.admins.get(s.admin);
    if (!admin || admin.status !== 'active') {
      await sessions.end(req);
      return null;
    }
    const viewer: Viewer = { name: admin.name, role: admin.role, csrf: s.csrf };
    const api: Api = async (method, url, body) => {
      const r = await internal.call(admin.name, source(req), method, url, body);
      if (r.status >= 400)
        throw new ApiRefused(
          r.status,
          String(r.json.code ?? r.status),
          String(r.json.message ?? 'refused'),
        );
      return r.json;
    };
    return { s, viewer, api };
  }

  async function render(
    req: FastifyRequest,
    reply: FastifyReply,
    who: NonNullable<Awaited<ReturnType<typeof signedIn>>>,
    path: string,
    status: number,
    alert: { kind: 'error' | 'success'; text: string } | null,
  ): Promise<FastifyReply> {
    const url = new URL(path, 'http://console');
    const page = PAGES.find((p) => p.path === url.pathname) ?? (PAGES[0] as PageRule);
    if (!allows(who.viewer.role, page.role))
      return html(
        reply,
        403,
        refusedPage(403, `The ${who.viewer.role} role may not open this page.`),
      );
    const c: PageCtx = {
      viewer: who.viewer,
      now: ctx.clock(),
      api: who.api,
      query: url.searchParams,
      serverUrl: serverUrl(req),
    };
    try {
      const r = await page.render(c);
      return html(
        reply,
        status,
        consolePage({
          title: r.title,
          body: r.body,
          viewer: who.viewer,
          current: page.path,
          alert,
          live: r.live ?? false,
        }),
      );
    } catch (err) {
      if (!(err instanceof ApiRefused)) throw err;
      return html(reply, err.status, refusedPage(err.status, err.message));
    }
  }

  // The server's bare address and a page path with a slash after it lead to the console (a
  // signed-out browser goes on to the sign-in), not to the API's JSON 404.
  app.get('/', async (_req, reply) => see(reply, '/admin'));
  for (const page of PAGES) {
    app.get(`${page.path}/`, async (req, reply) => {
      const query = req.url.indexOf('?');
      return see(reply, `${page.path}${query >= 0 ? req.url.slice(query) : ''}`);
    });
  }

  for (const page of PAGES) {
    app.get(page.path, async (req, reply) => {
      const who = await signedIn(req);
      if (!who) return see(reply, '/admin/signin');
      const notice = await sessions.takeNotice(who.s);
      return render(req, reply, who, req.url, 200, notice);
    });
  }

  /** A POST's signed-in admin and form, or null after answering (cross-site, no session, CSRF). */
  async function checked(req: FastifyRequest, reply: FastifyReply) {
    if (crossSite(req, secure())) {
      html(reply, 403, refusedPage(403, 'This form was sent from another site.'));
      return null;
    }
    const who = await signedIn(req);
    if (!who) {
      html(reply, 401, endedPage());
      return null;
    }
    const form = (req.body ?? {}) as Record<string, string>;
    if (!csrfMatches(who.s, form.csrf)) {
      log.info({ admin: who.viewer.name }, 'console form refused: CSRF token');
      html(
        reply,
        403,
        refusedPage(403, 'This form has expired. Go back, reload the page and try again.'),
      );
      return null;
    }
    return { who, form };
  }

  for (const action of ACTIONS) {
    app.post(action.route, async (req, reply) => {
      const ok = await checked(req, reply);
      if (!ok) return reply;
      const params = req.params as Record<string, string>;
      const c: PageCtx = {
        viewer: ok.who.viewer,
        now: ctx.clock(),
        api: ok.who.api,
        query: new URLSearchParams(),
        serverUrl: serverUrl(req),
      };
      try {
        const result = await action.run(params, ok.form, c);
        if ('redirect' in result) {
          await sessions.setNotice(ok.who.s, { kind: 'success', text: result.notice });
          return see(reply, result.redirect);
        }
        return html(
          reply,
          result.status ?? 200,
          consolePage({
            title: result.page.title,
            body: result.page.body,
            viewer: ok.who.viewer,
            live: result.page.live ?? false,
            alert: result.alert ?? null,
            ...(result.current ? { current: result.current } : {}),
          }),
        );
      } catch (err) {
        if (!(err instanceof ApiRefused)) throw err;
        return render(req, reply, ok.who, action.back(params, ok.form), err.status, {
          kind: 'error',
          text: err.status === 403 ? `Not allowed: ${err.message}` : err.message,
        });
      }
    });
  }

  registerLive(app, async (req) => (await signedIn(req))?.api ?? null);

  // This session, or every session of the admin (Admins page); audited either way.
  for (const everywhere of [false, true]) {
    signOutRoute(app, everywhere ? '/admin/signout-everywhere' : '/admin/signout', {
      check: checked,
      end: async (req, { who }) => {
        const detail = everywhere ? { sessions: await sessions.endAll(who.viewer.name) } : {};
        if (!everywhere) await sessions.end(req);
        await audit(ctx, {
          actor: `admin:${who.viewer.name}`,
          role: who.viewer.role,
          source: source(req),
          action: everywhere ? 'admin.signout-everywhere' : 'admin.signout',
          target: who.viewer.name,
          detail,
          result: 'ok',
        });
      },
      clear: (reply) => sessions.clear(reply),
      signin: '/admin/signin',
    });
  }
}
