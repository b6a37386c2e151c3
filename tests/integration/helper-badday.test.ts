/**
 * The bad-day policy fields end to end: set with `idvctl policy set`, pushed by the real server,
 * enforced by the real agent, seen through the real helper as pam_exec runs it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Policy } from '../../protocol/policy.js';
import { generateCode } from '../../protocol/totp.js';
import { enroll, setPolicy, waitFor } from '../helpers/agent.js';
import { idvctl } from '../helpers/server.js';
import { TEXT } from '../../pam-helper/text.js';
import { pamEnv, runHelper, startWorld, type World } from './helper-world.js';

let world: World;
const authtok = () => ['--socket', world.agent.socket, '--authtok'];

beforeAll(async () => {
  world = await startWorld({ maxAttempts: 3, prompts: 3 });
});
afterAll(async () => {
  await world?.stop();
});

async function agentRevision(): Promise<number> {
  const r = await world.agent.cli(['status', '--json']);
  return (r.json as { revision: number }).revision;
}

/** Sets the policy and waits until the agent has applied that change (its revision moved on). */
async function policyNow(p: Partial<Policy>): Promise<void> {
  const before = await agentRevision();
  await setPolicy(world.server, p);
  await waitFor(
    async () => (await agentRevision()) > before,
    `the agent to apply ${JSON.stringify(p)}`,
  );
}

type Ev = { user: string; service: string; outcome: string; reason?: string; rhost?: string };
async function eventsOf(user: string): Promise<Ev[]> {
  const r = await idvctl(world.server, ['events', '--user', user]);
  return (r.json as { events: Ev[] }).events;
}

describe('policy set: the new fields', () => {
  it('shows the defaults, and refuses bad values with a clear error, changing nothing', async () => {
    const show = await idvctl(world.server, ['policy', 'show', '--device-group', 'bd-check']);
    expect(show.json).toMatchObject({
      policy: { selfUnlock: true, trustedNetworks: [], rememberSeconds: 0 },
    });
    for (const [flag, value, message] of [
      ['--trusted-networks', '10.0.0.0/8,10.0.0.1/33', /longer than an IPv4 address/],
      ['--trusted-networks', '192.168.1.7/24', /did you mean 192\.168\.1\.0\/24/],
      ['--trusted-networks', 'office', /"office" is not a network \(address\/prefix/],
      ['--remember', '13h', /--remember must be a duration .* from 0 to 12h/],
      ['--self-unlock', 'maybe', /--self-unlock must be on or off/],
    ] as const) {
      const r = await idvctl(world.server, [
        'policy',
        'set',
        '--device-group',
        'bd-check',
        flag,
        value,
      ]);
      expect(r.code, `${flag} ${value}`).toBe(2);
      expect((r.json as { error: { message: string } }).error.message).toMatch(message);
    }
    // The API refuses the same without the CLI's check.
    const api = await fetch(`${world.server.url}/v1/policies/bd-check`, {
      method: 'PATCH',
      headers: {
        authorization: `Bearer ${world.server.adminToken}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ trustedNetworks: ['2001:db8::1/32'] }),
    });
    expect(api.status).toBe(400);
    expect(await api.text()).toContain('did you mean 2001:db8::/32');
    const after = await idvctl(world.server, ['policy', 'show', '--device-group', 'bd-check']);
    expect(after.json).toMatchObject({ explicit: false });
    const set = await idvctl(world.server, [
      'policy',
      'set',
      '--device-group',
      'bd-check',
      '--self-unlock',
      'off',
      '--trusted-networks',
      '10.0.0.0/8,2001:db8::/32',
      '--remember',
      '5m',
    ]);
    expect(set.json).toMatchObject({
      policy: {
        selfUnlock: false,
        trustedNetworks: ['10.0.0.0/8', '2001:db8::/32'],
        rememberSeconds: 300,
      },
    });
  });
});

describe('trustedNetworks through the helper', () => {
  it('no code from inside (v4, v6), a code from outside and on the console; events say so', async () => {
    const u = await world.enrolled('bd-trusted');
    await policyNow({ trustedNetworks: ['192.0.2.0/24', '2001:db8:77::/48'] });
    for (const rhost of ['192.0.2.10', '2001:db8:77::10', '::ffff:192.0.2.11']) {
      // No code given at all: the helper must not need one.
      const r = await runHelper(authtok(), pamEnv(u.name, { PAM_RHOST: rhost }), '');
      expect(r.code, rhost).toBe(0);
    }
    const outside: Record<string, string>[] = [
      { PAM_RHOST: '198.51.100.1' },
      { PAM_RHOST: '2001:db8:78::1' },
      { PAM_RHOST: '192.0.2.10', PAM_TTY: 'tty1', PAM_SERVICE: 'login' },
    ];
    for (const env of outside) {
      // Asked for a code: without one, refused (and no attempt spent).
      const r = await runHelper(authtok(), pamEnv(u.name, env), '');
      expect(r.code, JSON.stringify(env)).toBe(1);
      expect(r.stdout.trim()).toBe(TEXT.notACode);
    }
    const ev = await waitFor(async () => {
      const all = (await eventsOf(u.name)).filter((e) => e.reason === 'trusted-network');
      return all.length === 3 ? all : null;
    }, 'the trusted-network events at the server');
    expect(ev.map((e) => e.rhost).sort()).toEqual(
      ['192.0.2.10', '2001:db8:77::10', '::ffff:192.0.2.11'].sort(),
    );
    await policyNow({ trustedNetworks: [] });
  });
});

describe('rememberSeconds through the helper', () => {
  it('a second sudo within the time is not asked; a failure, a reset and a policy change forget it', async () => {
    const u = await world.enrolled('bd-remember');
    const sudo = pamEnv(u.name, { PAM_SERVICE: 'sudo' });
    delete (sudo as Record<string, string | undefined>).PAM_RHOST;
    await policyNow({ rememberSeconds: 600, trustedNetworks: [] });
    // The agent has it once a success is remembered; retry until the push landed.
    let step = -1;
    expect((await runHelper(authtok(), sudo, u.code(step++))).code).toBe(0);
    expect((await runHelper(authtok(), sudo, '')).code).toBe(0);
    // Another service is asked.
    expect((await runHelper(authtok(), { ...sudo, PAM_SERVICE: 'su' }, '')).code).toBe(1);
    // A failure (on su) forgets the sudo success too.
    expect((await runHelper(authtok(), { ...sudo, PAM_SERVICE: 'su' }, u.wrong())).code).toBe(1);
    expect((await runHelper(authtok(), sudo, '')).code).toBe(1);
    // A policy change forgets it.
    expect((await runHelper(authtok(), sudo, u.code(step++))).code).toBe(0);
    expect((await runHelper(authtok(), sudo, '')).code).toBe(0);
    await policyNow({ rememberSeconds: 900 });
    // A reset (reset-mfa, then a new app) forgets it.
    expect((await runHelper(authtok(), sudo, u.code(step++))).code).toBe(0);
    expect((await runHelper(authtok(), sudo, '')).code).toBe(0);
    expect((await idvctl(world.server, ['user', 'reset-mfa', u.name])).code).toBe(0);
    const totp = await enroll(world.server, u.name);
    await waitFor(
      async () =>
        (await runHelper(authtok(), sudo, generateCode(totp, Date.now() + 30_000))).code === 0,
      'the new app to be accepted',
    );
    const reasons = (await eventsOf(u.name)).map((e) => e.reason).filter((r) => r === 'remembered');
    expect(reasons.length).toBeGreaterThanOrEqual(3);
    await policyNow({ rememberSeconds: 0 });
  });
});

describe('self-unlock through the helper', () => {
  it('two consecutive codes end the lockout; two wrong codes do not; off means off', async () => {
    const u = await world.enrolled('bd-self');
    const env = pamEnv(u.name);
    for (let i = 0; i < 3; i++) await runHelper(authtok(), env, u.wrong());
    const locked = await runHelper(authtok(), env, u.wrong());
    expect(locked.code).toBe(1);
    expect(locked.stdout).toMatch(/locked until .*type two consecutive codes/s);
    // The brute-forcer: two wrong codes in a row, still locked.
    expect((await runHelper(authtok(), env, u.wrong())).code).toBe(1);
    const status = await world.agent.cli(['status', '--json']);
    expect((status.json as { locked: string[] }).locked).toContain(u.name);
    // The phone: this step's code, then the next step's (one code per login with expose_authtok).
    const first = await runHelper(authtok(), env, u.code(0));
    expect(first.code).toBe(1);
    expect(first.stdout).toContain('Code accepted. To end the lockout, type the next code');
    const second = await runHelper(authtok(), env, u.code(1));
    expect(second.stdout).toContain('the lockout has ended');
    expect(second.code).toBe(0);
    const ev = await waitFor(async () => {
      const all = await eventsOf(u.name);
      return all.some((e) => e.reason === 'self-unlock') ? all : null;
    }, 'the self-unlock event');
    expect(ev.filter((e) => e.reason === 'self-unlock-first-code')).toHaveLength(1);
    expect(ev.find((e) => e.reason === 'self-unlock')).toMatchObject({ outcome: 'ok' });
  });

  it("selfUnlock off: the locked user's own codes are refused; only a helpdesk code is offered", async () => {
    const u = await world.enrolled('bd-self-off');
    const env = pamEnv(u.name);
    await policyNow({ selfUnlock: false });
    for (let i = 0; i < 3; i++) await runHelper(authtok(), env, u.wrong());
    const r = await runHelper(authtok(), env, u.code());
    expect(r.code).toBe(1);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(
      /^Too many failed attempts: locked until [^.]*\. A helpdesk code from your administrator works here$/,
    );
    expect(lines.at(-1)).toMatch(/^Too many failed attempts: locked until [^.]*$/);
    await policyNow({ selfUnlock: true });
  });
});
