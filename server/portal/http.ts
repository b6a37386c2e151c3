/**
 * The portal's HTTP hygiene: security headers on every response, the session cookie, form
 * bodies, and the same-origin check that backs up the CSRF token.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

export const CSP =
  "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

export function securityHeaders(reply: FastifyReply, cacheable = false, csp = CSP): void {
  void reply.header('content-security-policy', csp);
  void reply.header('x-content-type-options', 'nosniff');
  void reply.header('referrer-policy', 'no-referrer');
  void reply.header('x-frame-options', 'DENY');
  void reply.header('cross-origin-opener-policy', 'same-origin');
  void reply.header('cross-origin-resource-policy', 'same-origin');
  void reply.header('permissions-policy', 'camera=(), microphone=(), geolocation=()');
  // Pages carry secrets, codes and CSRF tokens: never keep them in any cache.
  if (!cacheable) void reply.header('cache-control', 'no-store');
}

/** `__Host-` pins the cookie to this origin, path / and Secure; only possible over TLS. */
export function cookieName(secure: boolean, base = 'idv_portal'): string {
  return secure ? `__Host-${base}` : base;
}

export function readCookie(req: FastifyRequest, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export function setSessionCookie(
  reply: FastifyReply,
  secure: boolean,
  id: string,
  base?: string,
): void {
  void reply.header(
    'set-cookie',
    `${cookieName(secure, base)}=${id}; Path=/; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`,
  );
}

export function clearSessionCookie(reply: FastifyReply, secure: boolean, base?: string): void {
  void reply.header(
    'set-cookie',
    `${cookieName(secure, base)}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${secure ? '; Secure' : ''}`,
  );
}

export function html(reply: FastifyReply, status: number, body: string): FastifyReply {
  return reply.code(status).type('text/html; charset=utf-8').send(body);
}

/** 303 See Other: after a form, the browser GETs the next page (Post/Redirect/Get). */
export function see(reply: FastifyReply, location: string): FastifyReply {
  return reply.code(303).header('location', location).send();
}

/**
 * A sign-out form's route, for the portal and the console alike: the checked form (origin,
 * session, CSRF; null when `check` has answered already), the session(s) ended in the store,
 * the cookie cleared, back to the sign-in page.
 */
export function signOutRoute<T>(
  app: FastifyInstance,
  path: string,
  o: {
    check(req: FastifyRequest, reply: FastifyReply): Promise<T | null>;
    end(req: FastifyRequest, checked: T): Promise<void>;
    clear(reply: FastifyReply): void;
    signin: string;
  },
): void {
  app.post(path, async (req, reply) => {
    const checked = await o.check(req, reply);
    if (checked === null) return reply;
    await o.end(req, checked);
    o.clear(reply);
    return see(reply, o.signin);
  });
}

/** A urlencoded form as a map of first values. */
export function parseForm(body: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(body)) if (!(k in out)) out[k] = v;
  return out;
}

/**
 * Refuses a POST another site made the browser send (backs up the CSRF token). Browsers send
 * Sec-Fetch-Site; with `Referrer-Policy: no-referrer` Chromium sends `Origin: null` even for our
 * own forms, so Origin is only compared when it is a real origin.
 */
export function crossSite(req: FastifyRequest, secure: boolean): boolean {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined) return site !== 'same-origin';
  const origin = req.headers.origin;
  if (origin === undefined || origin === 'null') return false;
  return origin !== `${secure ? 'https' : 'http'}://${req.headers.host ?? ''}`;
}
