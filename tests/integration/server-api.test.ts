/**
 * Admin API and idvctl against a real idv-server process: authentication on every route,
 * validation with a message per field and no change on refusal, and CLI round trips.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCode } from '../../protocol/totp.js';
import { expectBuildInfo } from '../helpers/build-info.js';
import { idvctl, startServer, type TestServer } from '../helpers/server.js';

let server: TestServer;

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.stop();
});

async function api(
  method: string,
  path: string,
  body?: unknown,
  token: string | null = server.adminToken,
) {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: {
      ...(token !== null ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

const DEVICE = '9b2f3c1e-8a4d-4f6b-9c2e-1d3f5a7b9c0d';
const ROUTES: [string, string, unknown?][] = [
  ['GET', '/v1/users'],
  ['POST', '/v1/users', { name: 'mallory' }],
  ['GET', '/v1/users/alice'],
  ['GET', '/v1/users/nobody-at-all'],
  ['DELETE', '/v1/users/alice'],
  ['POST', '/v1/users/alice/suspend', {}],
  ['POST', '/v1/users/alice/resume', {}],
  ['PUT', '/v1/users/alice/groups', { groups: [] }],
  ['POST', '/v1/users/alice/enroll', { showSecret: true }],
  ['POST', '/v1/users/alice/confirm', { code: '123456' }],
  ['POST', '/v1/users/alice/reset-mfa', {}],
  ['POST', '/v1/users/alice/unlock', {}],
  ['GET', '/v1/groups'],
  ['POST', '/v1/device-tokens', {}],
  ['GET', '/v1/devices'],
  ['GET', `/v1/devices/${DEVICE}`],
  ['POST', `/v1/devices/${DEVICE}/revoke`, {}],
  ['GET', '/v1/policies/default'],
  ['PATCH', '/v1/policies/default', { maxAttempts: 3 }],
  ['GET', '/v1/events'],
  ['GET', '/v1/events/stream'],
  ['GET', '/v1/no-such-route'],
];

describe('authentication', () => {
  it('refuses every admin route without a token or with a wrong one, with the same body, changing nothing', async () => {
    await api('POST', '/v1/users', { name: 'alice' });
    const before = await api('GET', '/v1/users');
    for (const token of [null, 'x'.repeat(43), 'not a token', `${server.adminToken}x`]) {
      for (const [method, path, body] of ROUTES) {
        const r = await api(method, path, body, token);
        expect(r.status, `${method} ${path}`).toBe(401);
        expect(r.body).toEqual({
          code: 'UNAUTHORIZED',
          message: 'Missing or invalid credentials.',
        });
      }
    }
    expect(await api('GET', '/v1/users')).toEqual(before);
  });

  it('answers unknown routes with 404 NOT_FOUND', async () => {
    expect(await api('GET', '/v1/no-such-route')).toEqual({
      status: 404,
      body: { code: 'NOT_FOUND', message: 'No such resource.' },
    });
    expect((await api('GET', '/nothing-here', undefined, null)).status).toBe(404);
  });

  it('serves /healthz and /metrics without a token, each saying what runs', async () => {
    const health = (await api('GET', '/healthz', undefined, null)).body;
    expect(health.ok).toBe(true);
    expectBuildInfo(health);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toContain('idv_agents_connected');
    expect(metrics).toContain('idv_push_ack_seconds');
    const info = /^idv_build_info\{version="([^"]*)",commit="([^"]*)",node="([^"]*)"\} 1$/m.exec(
      metrics,
    );
    expect(info, 'idv_build_info in /metrics').not.toBeNull();
    expectBuildInfo({ version: info?.[1], commit: info?.[2], node: info?.[3] });
  });
});

describe('validation', () => {
  const BAD: [string, string, unknown, RegExp][] = [
    ['POST', '/v1/users', { name: '-rf' }, /name: must be/],
    ['POST', '/v1/users', { name: 'ok', groups: ['a b'] }, /groups\.0/],
    ['POST', '/v1/users', { name: 'ok', admin: true }, /Unrecognized key/],
    ['POST', '/v1/users', '{"name":', /not valid JSON/],
    ['POST', '/v1/users', [], /expected object/],
    ['PATCH', '/v1/policies/default', { maxAttempts: 0 }, /maxAttempts/],
    ['PATCH', '/v1/policies/default', { maxAttempts: 101, window: -1 }, /maxAttempts.*window/],
    ['PATCH', '/v1/policies/default', { mfa: 'sometimes' }, /mfa/],
    ['PATCH', '/v1/policies/default', { lockoutSeconds: '15m' }, /lockoutSeconds/],
    ['PATCH', '/v1/policies/default', { services: [] }, /services/],
    ['PATCH', '/v1/policies/default', {}, /at least one field/],
    ['PATCH', '/v1/policies/bad group', { maxAttempts: 3 }, /group/],
    ['POST', '/v1/device-tokens', { uses: 0 }, /uses/],
    ['POST', '/v1/device-tokens', { ttlSeconds: 1 }, /ttlSeconds/],
    ['POST', '/v1/users/alice/confirm', { code: 'abc' }, /code/],
    ['POST', '/v1/users/alice/unlock', { device: 'not-a-uuid' }, /device/],
    ['GET', '/v1/devices/not-a-uuid', undefined, /id/],
    ['GET', '/v1/events?limit=0', undefined, /limit/],
    ['GET', '/v1/events?since=yesterday', undefined, /since/],
    ['GET', '/v1/events?color=red', undefined, /Unrecognized key/],
  ];

  it('refuses bad input with 4xx {code, message} naming the field, and changes nothing', async () => {
    const state = async () => [
      await api('GET', '/v1/users'),
      await api('GET', '/v1/policies/default'),
      await api('GET', '/v1/groups'),
    ];
    const before = await state();
    for (const [method, path, body, message] of BAD) {
      const r = await api(method, path, body);
      expect(r.status, `${method} ${path} ${JSON.stringify(body)}`).toBeGreaterThanOrEqual(400);
      expect(r.status).toBeLessThan(500);
      expect(typeof r.body.code).toBe('string');
      expect(r.body.message, `${method} ${path}`).toMatch(message);
    }
    expect(await state()).toEqual(before);
  });

  it('refuses a body over the limit with 413 TOO_LARGE', async () => {
    const r = await api('POST', '/v1/users', {
      name: 'big',
      groups: ['x'.repeat(2 * 1024 * 1024)],
    });
    expect(r.status).toBe(413);
    expect(r.body.code).toBe('TOO_LARGE');
  });

  it('says which resource is missing', async () => {
    expect((await api('GET', '/v1/users/ghost')).body.code).toBe('USER_NOT_FOUND');
    expect((await api('GET', `/v1/devices/${DEVICE}`)).body.code).toBe('DEVICE_NOT_FOUND');
    expect((await api('POST', '/v1/users/ghost/unlock', {})).body.code).toBe('USER_NOT_FOUND');
    expect((await api('POST', '/v1/users', { name: 'alice' })).body.code).toBe('USER_EXISTS');
  });
});

describe('idvctl', () => {
  it('adds, lists, shows, suspends, resumes and removes users', async () => {
    expect(
      (await idvctl(server, ['user', 'add', 'carol', '--group', 'eng', '--group', 'ops'])).code,
    ).toBe(0);
    const list = await idvctl(server, ['user', 'list']);
    expect(list.code).toBe(0);
    const carol = (list.json as { users: { name: string; groups: string[] }[] }).users.find(
      (u) => u.name === 'carol',
    );
    expect(carol?.groups).toEqual(['eng', 'ops']);
    expect(
      ((await idvctl(server, ['user', 'suspend', 'carol'])).json as { status: string }).status,
    ).toBe('suspended');
    expect(
      ((await idvctl(server, ['user', 'resume', 'carol'])).json as { status: string }).status,
    ).toBe('active');
    const groups = (await idvctl(server, ['group', 'list'])).json as {
      userGroups: { name: string }[];
    };
    expect(groups.userGroups.map((g) => g.name)).toEqual(expect.arrayContaining(['eng', 'ops']));
    expect((await idvctl(server, ['user', 'remove', 'carol'])).code).toBe(0);
    const gone = await idvctl(server, ['user', 'show', 'carol']);
    expect(gone.code).toBe(1);
    expect(gone.json).toEqual({ error: { code: 'USER_NOT_FOUND', message: 'no user carol' } });
  });

  it('enrolls with a secret, refuses a wrong code, activates with the current one, resets', async () => {
    await idvctl(server, ['user', 'add', 'dave']);
    const enroll = await idvctl(server, ['user', 'enroll', 'dave', '--show-secret']);
    expect(enroll.code).toBe(0);
    const e = enroll.json as { otpauthUri: string; link: string; secret: string };
    expect(e.otpauthUri).toMatch(/^otpauth:\/\/totp\/idv:dave\?secret=[A-Z2-7]+&issuer=idv$/);
    expect(e.link).toMatch(new RegExp(`^${server.url}/enroll/idv_[A-Za-z0-9_-]{43}$`));
    const params = { secret: e.secret, algorithm: 'SHA1' as const, digits: 6 as const, period: 30 };
    const wrong = String((Number(generateCode(params, Date.now())) + 1) % 1_000_000).padStart(
      6,
      '0',
    );
    const refused = await idvctl(server, ['user', 'confirm', 'dave', wrong]);
    expect(refused.code).toBe(1);
    expect((refused.json as { error: { code: string } }).error.code).toBe('CODE_INVALID');
    expect(
      ((await idvctl(server, ['user', 'show', 'dave'])).json as { enrolled: boolean }).enrolled,
    ).toBe(false);
    const ok = await idvctl(server, ['user', 'confirm', 'dave', generateCode(params, Date.now())]);
    expect(ok.code).toBe(0);
    expect((ok.json as { enrolled: boolean }).enrolled).toBe(true);
    const shown = await idvctl(server, ['user', 'show', 'dave']);
    expect(shown.stdout).not.toContain(e.secret);
    const before = shown.json as { graceStartedAt: string };
    const reset = (await idvctl(server, ['user', 'reset-mfa', 'dave'])).json as {
      enrolled: boolean;
      graceStartedAt: string | null;
    };
    expect(reset.enrolled).toBe(false);
    expect(reset.graceStartedAt).toBeNull(); // the reset ended the grace
    const again = (await idvctl(server, ['user', 'reset-mfa', 'dave', '--grace'])).json as {
      graceStartedAt: string;
    };
    expect(again.graceStartedAt > before.graceStartedAt).toBe(true);
    // reset-mfa issues a new enrollment link (issue 6): a new secret waits for its first code.
    expect((await idvctl(server, ['user', 'confirm', 'dave', '123456'])).json).toMatchObject({
      error: { code: 'CODE_INVALID' },
    });
  });

  it('sets and shows policy per device group with durations, and refuses a wrong field', async () => {
    const set = await idvctl(server, [
      'policy',
      'set',
      '--device-group',
      'lab',
      '--max-attempts',
      '4',
      '--lockout',
      '15m',
      '--services',
      'sudo,sshd',
      '--fail-mode',
      'safe',
      '--enrollment-grace',
      '14d',
    ]);
    expect(set.code).toBe(0);
    const shown = (await idvctl(server, ['policy', 'show', '--device-group', 'lab'])).json as {
      policy: Record<string, unknown>;
    };
    expect(shown.policy).toMatchObject({
      maxAttempts: 4,
      lockoutSeconds: 900,
      services: ['sudo', 'sshd'],
      failMode: 'safe',
      enrollmentGraceDays: 14,
      prompts: 3,
    });
    const bad = await idvctl(server, [
      'policy',
      'set',
      '--device-group',
      'lab',
      '--max-attempts',
      '1000',
    ]);
    // idvctl refuses it before asking (the same schema); the server refuses it too.
    expect(bad.code).toBe(2);
    expect(bad.json).toMatchObject({ error: { code: 'USAGE' } });
    const direct = await api('PATCH', '/v1/policies/lab', { maxAttempts: 1000 });
    expect(direct.status).toBe(400);
    expect(direct.body).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(direct.body.message).toMatch(/maxAttempts/);
    const usage = await idvctl(server, ['policy', 'set', '--lockout', 'soon']);
    expect(usage.code).toBe(2);
    expect(
      (
        (await idvctl(server, ['policy', 'show', '--device-group', 'lab'])).json as {
          policy: { maxAttempts: number };
        }
      ).policy.maxAttempts,
    ).toBe(4);
  });

  it('creates registration tokens and lists devices', async () => {
    const t = await idvctl(server, [
      'device',
      'token',
      'create',
      '--device-group',
      'lab',
      '--uses',
      '3',
      '--ttl',
      '1h',
    ]);
    expect(t.code).toBe(0);
    expect(t.json).toMatchObject({ deviceGroup: 'lab', uses: 3 });
    expect((t.json as { token: string }).token).toMatch(/^idv_[A-Za-z0-9_-]{43}$/);
    expect((await idvctl(server, ['device', 'list'])).json).toEqual({ devices: [] });
  });

  it('prints human tables without --json', async () => {
    const { run, IDVCTL_BIN } = await import('../helpers/server.js');
    const r = await run(IDVCTL_BIN, ['user', 'list'], {
      IDV_SERVER: server.url,
      IDV_TOKEN: server.adminToken,
    });
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toMatch(/^NAME\s+GROUPS\s+STATUS\s+MFA$/);
  });

  it('fails clearly: wrong usage (2), bad token (1), server down (1)', async () => {
    expect((await idvctl(server, ['user', 'frobnicate'])).code).toBe(2);
    expect((await idvctl(server, ['user', 'add'])).code).toBe(2);
    const bad = await idvctl({ url: server.url, adminToken: 'wrong-token-wrong-token' }, [
      'user',
      'list',
    ]);
    expect(bad.code).toBe(1);
    expect(bad.json).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
    const down = await idvctl({ url: 'http://127.0.0.1:1', adminToken: server.adminToken }, [
      'user',
      'list',
    ]);
    expect(down.code).toBe(1);
    expect(down.json).toMatchObject({ error: { code: 'SERVER_UNREACHABLE' } });
  });
});
