/**
 * The server's HTTP listener, three ways:
 * - admin API with the admin token (its own server): fuzzed bodies, content types and path
 *   segments on every admin route; no 5xx, a refusal changes nothing, an accepted user has a
 *   valid name;
 * - admin API without a valid token: no credentials, a wrong token, a token one character off,
 *   other schemes; any 2xx on /v1 is a bypass (registration included: its token is random);
 * - the user portal: fuzzed forms with and without a live session and its CSRF token, foreign
 *   origins, fuzzed cookies; a sign-in without alice's code, or a signed-in page served, is a
 *   bypass.
 */
import fc from 'fast-check';
import { NAME_RE } from '../../../pam-helper/options.js';
import { csrfOf } from '../../integration/portal-client.js';
import { formBody, httpBody } from '../generators.js';
import type { Outcome, Target, TargetSpec } from '../runner.js';
import { adminServer, isValidCode, serverWorld } from '../world.js';

interface Request {
  method: string;
  path: string;
  body: string | null;
  type: string;
  headers: Record<string, string>;
}

const segment = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('alice', 'bob', 'default', 'eng') },
  { weight: 1, arbitrary: fc.uuid() },
  { weight: 2, arbitrary: fc.string({ maxLength: 80 }).map(encodeURIComponent) },
  { weight: 1, arbitrary: fc.constantFrom('..', '%2e%2e', '%00', '%2F', 'a%0Ab', '*') },
);

/** Admin routes: [method, path with `:x` for a fuzzed segment]. The event stream never ends, so it is left out. */
const ADMIN_ROUTES: [string, string][] = [
  ['GET', '/v1/users'],
  ['POST', '/v1/users'],
  ['GET', '/v1/users/:x'],
  ['DELETE', '/v1/users/:x'],
  ['POST', '/v1/users/:x/suspend'],
  ['POST', '/v1/users/:x/resume'],
  ['PUT', '/v1/users/:x/groups'],
  ['POST', '/v1/users/:x/enroll'],
  ['POST', '/v1/users/:x/confirm'],
  ['POST', '/v1/users/:x/reset-mfa'],
  ['POST', '/v1/users/:x/unlock'],
  ['POST', '/v1/users/:x/recovery-codes'],
  ['GET', '/v1/users/:x/recovery-codes'],
  ['PUT', '/v1/users/:x/role'],
  ['GET', '/v1/groups'],
  ['POST', '/v1/device-tokens'],
  ['GET', '/v1/device-tokens'],
  ['POST', '/v1/device-tokens/:x/revoke'],
  ['GET', '/v1/devices'],
  ['GET', '/v1/devices/:x'],
  ['POST', '/v1/devices/:x/revoke'],
  ['GET', '/v1/policies/:x'],
  ['PATCH', '/v1/policies/:x'],
  ['GET', '/v1/events'],
  ['POST', '/v1/register'],
];

function request(
  routes: [string, string][],
  headers: fc.Arbitrary<Record<string, string>>,
  body: fc.Arbitrary<string> = httpBody,
): fc.Arbitrary<Request> {
  return fc
    .record({
      route: fc.constantFrom(...routes),
      seg: segment,
      query: fc.oneof(
        fc.constant(''),
        fc.constantFrom('?limit=10000', '?limit=-1', '?user=alice', '?x=%zz', '?__proto__[a]=1'),
      ),
      body: fc.option(body, { nil: null }),
      type: fc.constantFrom(
        'application/json',
        'text/plain',
        'application/x-www-form-urlencoded',
        'application/json; charset=latin1',
        '',
      ),
      headers,
    })
    .map(({ route: [method, path], seg, query, body: b, type, headers: h }) => ({
      method,
      path: path.replace(':x', seg) + query,
      // GET and HEAD cannot carry a body through fetch
      body: method === 'GET' ? null : b,
      type,
      headers: h,
    }));
}

async function send(
  base: string,
  r: Request,
): Promise<{ status: number; text: string; location: string | null }> {
  const res = await fetch(`${base}${r.path}`, {
    method: r.method,
    redirect: 'manual',
    headers: { ...(r.type && r.body !== null ? { 'content-type': r.type } : {}), ...r.headers },
    ...(r.body !== null ? { body: r.body } : {}),
  });
  return { status: res.status, text: await res.text(), location: res.headers.get('location') };
}

async function healthy(base: string): Promise<boolean> {
  try {
    return (await fetch(`${base}/healthz`)).status === 200;
  } catch {
    return false;
  }
}

function serverError(status: number, text: string): string | undefined {
  return status >= 500 ? `HTTP ${status}: ${text.slice(0, 160)}` : undefined;
}

export const adminTarget: TargetSpec = {
  name: 'HTTP admin API (token)',
  what: 'admin routes with the token; crash: 5xx; bypass: a user accepted with an invalid name',
  async start(): Promise<Target<Request>> {
    const { server, state } = await adminServer();
    return {
      arbitrary: request(
        ADMIN_ROUTES,
        fc.constant({ authorization: `Bearer ${server.adminToken}` }),
      ),
      concurrency: 8,
      hangMs: 15_000,
      async run(r) {
        const res = await send(server.url, r);
        const outcome: Outcome = { changes: res.status < 400 && r.method !== 'GET' };
        const crash = serverError(res.status, res.text);
        if (crash) outcome.crash = crash;
        if (res.status < 300 && r.method === 'POST' && r.path === '/v1/users') {
          const name = (JSON.parse(res.text) as { name?: unknown }).name;
          if (typeof name !== 'string' || !NAME_RE.test(name))
            outcome.bypass = `user created with an invalid name ${JSON.stringify(name)}`;
        }
        return outcome;
      },
      state,
      alive: () => healthy(server.url),
      stop: async () => undefined,
    };
  },
};

export const noTokenTarget: TargetSpec = {
  name: 'HTTP admin API (no token)',
  what: 'admin routes without a valid token; bypass: any 2xx',
  async start(): Promise<Target<Request>> {
    const w = await serverWorld();
    const token = w.server.adminToken;
    const offByOne = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
    const auth: fc.Arbitrary<Record<string, string>> = fc.oneof(
      fc.constant({}),
      fc.constantFrom<Record<string, string>>(
        { authorization: '' },
        { authorization: 'Bearer' },
        { authorization: 'Bearer ' },
        { authorization: `Bearer ${offByOne}` },
        { authorization: `Bearer ${token.slice(0, -1)}` },
        { authorization: `Bearer ${token}x` },
        { authorization: `Basic ${Buffer.from(`admin:${token}`).toString('base64')}` },
        { authorization: `Token ${token}` },
        { 'x-idv-token': token },
        { cookie: `token=${token}` },
      ),
      fc
        .string({ maxLength: 100 })
        .map((s) => ({ authorization: `Bearer ${s.replace(/[^\x20-\x7e]/g, '')}` })),
    );
    return {
      arbitrary: request(ADMIN_ROUTES, auth),
      concurrency: 8,
      hangMs: 15_000,
      async run(r) {
        const res = await send(w.server.url, r);
        const outcome: Outcome = {};
        const crash = serverError(res.status, res.text);
        if (crash) outcome.crash = crash;
        if (res.status < 300) {
          outcome.changes = true;
          outcome.bypass = `HTTP ${res.status} without a valid token: ${res.text.slice(0, 120)}`;
        }
        return outcome;
      },
      state: () => w.state(),
      alive: () => healthy(w.server.url),
      stop: async () => undefined,
    };
  },
};

const PORTAL_ROUTES: [string, string][] = [
  ['GET', '/portal'],
  ['GET', '/portal/signin'],
  ['POST', '/portal/signin'],
  ['GET', '/portal/account'],
  ['POST', '/portal/reset'],
  ['POST', '/portal/signout'],
  ['GET', '/portal/enroll'],
  ['POST', '/portal/enroll'],
  ['GET', '/enroll/:x'],
  ['POST', '/enroll/:x'],
  ['GET', '/portal/recovery-codes'],
  ['GET', '/portal/recovery-codes.txt'],
  ['POST', '/portal/recovery-codes/done'],
  ['POST', '/portal/recovery-codes/regenerate'],
];

/** Pages only a signed-in user (or one with a live enrollment link) may see. */
const SIGNED_IN = /^\/portal\/(account|recovery-codes|recovery-codes\.txt|enroll)(\?|$)/;

export const portalTarget: TargetSpec = {
  name: 'HTTP portal',
  what: 'portal pages and forms; bypass: a sign-in without alice’s code, a signed-in page served',
  async start(): Promise<Target<Request>> {
    const w = await serverWorld();
    const base = w.server.url;
    // One live (signed-out) session and its CSRF token, as a browser holds them.
    const page = await fetch(`${base}/portal/signin`);
    const cookie = (page.headers.get('set-cookie') ?? '').split(';')[0] as string;
    const csrf = csrfOf(await page.text());
    const origin = new URL(base).origin;
    const headers = fc.record(
      {
        cookie: fc.oneof(
          fc.constant(cookie),
          fc
            .string({ maxLength: 80 })
            .map((s) => `${cookie.split('=')[0]}=${encodeURIComponent(s)}`),
        ),
        origin: fc.constantFrom(origin, 'https://evil.example', 'null'),
        'sec-fetch-site': fc.constantFrom('same-origin', 'cross-site', 'none'),
      },
      { requiredKeys: [] },
    );
    return {
      arbitrary: request(
        PORTAL_ROUTES,
        headers,
        fc.oneof({ weight: 3, arbitrary: formBody(csrf) }, { weight: 1, arbitrary: httpBody }),
      ),
      concurrency: 8,
      hangMs: 15_000,
      async run(r) {
        const res = await send(base, r);
        const outcome: Outcome = {};
        const crash = serverError(res.status, res.text);
        if (crash) outcome.crash = crash;
        const signedIn =
          (r.method === 'POST' &&
            r.path.startsWith('/portal/signin') &&
            res.location === '/portal/account') ||
          (r.method === 'GET' && SIGNED_IN.test(r.path) && res.status === 200);
        if (signedIn) {
          outcome.changes = true;
          const code = new URLSearchParams(r.body ?? '').get('code')?.trim() ?? '';
          if (!isValidCode(w.alice, code))
            outcome.bypass = `signed in without a valid code (HTTP ${res.status} ${r.method} ${r.path})`;
        }
        return outcome;
      },
      state: () => w.state(),
      alive: () => healthy(base),
      stop: async () => undefined,
    };
  },
};
