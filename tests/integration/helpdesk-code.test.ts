/**
 * The helpdesk code (issue 15) end to end: a real server, two real agents (A and B), a user
 * enrolled; codes issued with `idvctl user helpdesk-code`; then the server stopped (the machine
 * offline, the phone "lost") and the codes typed through the real helper as pam_exec runs it.
 *
 * Time is real: the expired case issues a code with --valid 1m first and types it last, after its
 * expiry (at most two minutes later: the expiry is rounded up to a whole minute).
 */
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addEnrolledUser,
  askAgent,
  begin,
  startAgent,
  waitFor,
  type TestAgent,
} from '../helpers/agent.js';
import { IDVCTL_BIN, idvctl, run, startServer, type TestServer } from '../helpers/server.js';
import { storeBackends } from '../helpers/stores.js';
import { pamEnv, runHelper } from './helper-world.js';
import { generateCode } from '../../protocol/totp.js';
import type { TotpParams } from '../../protocol/messages.js';

const USER = 'hd-alice';
const DASHED = /^\d{3}-\d{3}-\d{3}-\d{3}$/;

let server: TestServer;
let a: TestAgent;
let b: TestAgent;
let totp: TotpParams;
/** Issued while the server was up. */
const codes: Record<'main' | 'forB' | 'locked' | 'short', { code: string; expiresAt: string }> =
  {} as never;

async function issue(args: string[]): Promise<{ code: number; json: unknown; stdout: string }> {
  return idvctl(server, ['user', 'helpdesk-code', ...args]);
}

async function issueOk(
  device: string,
  valid?: string,
): Promise<{ code: string; expiresAt: string }> {
  const r = await issue([USER, '--device', device, ...(valid ? ['--valid', valid] : [])]);
  expect(r.code, r.stdout).toBe(0);
  return r.json as { code: string; expiresAt: string };
}

/** idvctl without --json: what the admin reads. */
const plainIdvctl = (args: string[]) =>
  run(IDVCTL_BIN, ['--server', server.url, ...args], { IDV_TOKEN: server.adminToken });

const login = (agent: TestAgent, code: string) =>
  runHelper(['--socket', agent.socket, '--authtok'], pamEnv(USER), code);

const backends = await storeBackends();

describe.each(backends)('on $name', (backend) => {
  if (backend.skip) it.skip(`postgres: ${backend.skip}`, () => undefined);
  describe.skipIf(backend.skip !== null)('helpdesk codes', () => {
    beforeAll(async () => {
      server = await startServer({ database: await backend.database() });
      const policy = { maxAttempts: 3, prompts: 3, selfUnlock: false };
      a = await startAgent({ server, policy, name: 'laptop-a' });
      b = await startAgent({ server, policy, name: 'laptop-b' });
      ({ totp } = await addEnrolledUser(server, USER));
      for (const agent of [a, b])
        await waitFor(async () => {
          const [r] = await askAgent(agent.socket, [begin(USER, 'sshd')]);
          return r?.type === 'prompt';
        }, 'the agents to know the user');
      // The short one first: it is typed last, once expired.
      codes.short = await issueOk(a.deviceId, '1m');
      codes.main = await issueOk(a.deviceId);
      codes.forB = await issueOk(b.deviceId, '2h');
      codes.locked = await issueOk(a.deviceId, '24h');
    }, 120_000);

    afterAll(async () => {
      await a?.stop();
      await b?.stop();
      await server?.stop();
    });

    describe('issuing (server up)', () => {
      it('prints the code in 3-digit groups and its expiry; --json is exactly {code, expiresAt}', async () => {
        expect(Object.keys(codes.main)).toEqual(['code', 'expiresAt']);
        expect(codes.main.code).toMatch(DASHED);
        const left = Date.parse(codes.main.expiresAt) - Date.now();
        expect(left).toBeGreaterThan(14 * 60_000);
        expect(left).toBeLessThanOrEqual(16 * 60_000);
        const human = await plainIdvctl(['user', 'helpdesk-code', USER, '--device', a.deviceId]);
        expect(human.code).toBe(0);
        expect(human.stdout).toMatch(/^ {4}\d{3}-\d{3}-\d{3}-\d{3}$/m);
        expect(human.stdout).toContain('Works once, on that device only');
      });

      it('refuses bad validity, unknown user and device, a revoked device and an unserved user, clearly', async () => {
        for (const valid of ['30s', '25h', 'soon', '0']) {
          const r = await issue([USER, '--device', a.deviceId, '--valid', valid]);
          expect(r.code, valid).toBe(2);
          expect(JSON.stringify(r.json)).toContain('--valid must be a duration between 1m and 24h');
        }
        const noDevice = await issue([USER]);
        expect(noDevice.code).toBe(2);
        const cases: [string[], string, RegExp][] = [
          [['nobody', '--device', a.deviceId], 'USER_NOT_FOUND', /no user nobody/],
          [
            [USER, '--device', '00000000-0000-4000-8000-000000000000'],
            'DEVICE_NOT_FOUND',
            /no device/,
          ],
        ];
        // A device group that admits only another user group: the user is not served there.
        const c = await startAgent({
          server,
          deviceGroup: 'hd-other',
          policy: { userGroups: ['ops'] },
          name: 'ops-box',
        });
        cases.push([
          [USER, '--device', c.deviceId],
          'VALIDATION_FAILED',
          /may not log in on device/,
        ]);
        for (const [args, code, message] of cases) {
          const r = await issue(args);
          expect(r.code, args.join(' ')).toBe(1);
          const e = (r.json as { error: { code: string; message: string } }).error;
          expect(e.code).toBe(code);
          expect(e.message).toMatch(message);
        }
        await idvctl(server, ['device', 'revoke', c.deviceId]);
        const revoked = await issue([USER, '--device', c.deviceId]);
        expect((revoked.json as { error: { code: string } }).error.code).toBe('DEVICE_REVOKED');
        await c.stop();
        // Over the API: a strict body, the same checks.
        const api = await fetch(`${server.url}/v1/users/${USER}/helpdesk-code`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${server.adminToken}`,
            'content-type': 'application/json',
          },
          body: JSON.stringify({ device: a.deviceId, validSeconds: 900, extra: 1 }),
        });
        expect(api.status).toBe(400);
      });

      it('a device registered before helpdesk codes has no secret: 409 HELPDESK_UNAVAILABLE', async () => {
        const t = await idvctl(server, ['device', 'token', 'create']);
        const { publicKey } = generateKeyPairSync('ed25519');
        const res = await fetch(`${server.url}/v1/register`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            token: (t.json as { token: string }).token,
            publicKey: publicKey.export({ format: 'jwk' }).x,
            agentVersion: '0.0.9',
            facts: { hostname: 'old-box', os: 'linux', osVersion: '1', arch: 'x64' },
          }),
        });
        const reg = (await res.json()) as Record<string, unknown>;
        expect(reg).not.toHaveProperty('helpdeskSecret');
        const r = await issue([USER, '--device', reg.deviceId as string]);
        expect(r.code).toBe(1);
        expect((r.json as { error: unknown }).error).toEqual({
          code: 'HELPDESK_UNAVAILABLE',
          message: `device ${reg.deviceId as string} (old-box) has no helpdesk secret yet (registered before helpdesk codes): its agent gets one when it next connects, if it speaks sync protocol 4 (upgrade it otherwise)`,
        });
      });

      it('the secret and the codes appear nowhere: device show, audit, logs', async () => {
        const show = await idvctl(server, ['device', 'show', a.deviceId]);
        expect(JSON.stringify(show.json)).not.toMatch(/helpdesk/i);
        const audit = await idvctl(server, ['audit']);
        const entries = (audit.json as { entries: { action: string; detail: unknown }[] }).entries;
        const issued = entries.filter((e) => e.action === 'user.helpdesk-code');
        expect(issued.length).toBeGreaterThanOrEqual(4);
        expect(issued[0]?.detail).toHaveProperty('device');
        const secret = readFileSync(`${a.dataDir}/agent.json`, 'utf8');
        expect(secret).not.toMatch(/helpdesk/i);
        for (const c of Object.values(codes)) {
          const digits = c.code.replace(/-/g, '');
          for (const text of [JSON.stringify(audit.json), server.logs(), a.logs()]) {
            expect(text).not.toContain(c.code);
            expect(text).not.toContain(digits);
          }
        }
      });
    });

    describe('at the prompt, offline (server stopped, phone lost)', () => {
      beforeAll(async () => {
        await server.stop();
        await waitFor(async () => {
          const s = await a.cli(['status', '--json']);
          return (s.json as { connected: boolean }).connected === false;
        }, 'agent A to notice the server is gone');
      });

      it('the code lets the user in on A once, typed with dashes or without; a second use is refused', async () => {
        const first = await login(a, codes.main.code);
        expect(first.code, first.stdout + first.stderr).toBe(0);
        expect(first.stdout).toContain('Helpdesk code accepted');
        const again = await login(a, codes.main.code.replace(/-/g, ''));
        expect(again.code).toBe(1);
        expect(again.stdout).toContain(
          'This helpdesk code was already used here; ask for a new one',
        );
      });

      it("a code is bound to its device: A's refused on B, B's refused on A and accepted on B", async () => {
        const aOnB = await login(b, codes.main.code);
        expect(aOnB.code).toBe(1);
        expect(aOnB.stdout).toMatch(/Wrong code, \d attempts? left/);
        const onA = await login(a, codes.forB.code);
        expect(onA.code).toBe(1);
        expect(onA.stdout).toMatch(/Wrong code, \d attempts? left/);
        const onB = await login(b, codes.forB.code);
        expect(onB.code, onB.stdout).toBe(0);
      });

      it('a wrong helpdesk-shaped code counts as a failed attempt', async () => {
        // Two failures so far on A (the used code, B's code); maxAttempts is 3.
        const wrong =
          codes.locked.code.slice(0, 14) + String((Number(codes.locked.code.at(-1)) + 1) % 10);
        const r = await login(a, wrong);
        expect(r.code).toBe(1);
        expect(r.stdout).toContain('Too many failed attempts: locked until');
        const s = await a.cli(['status', '--json']);
        expect((s.json as { locked: string[] }).locked).toContain(USER);
      });

      it('a user locked out on A is offered the helpdesk code and gets in with it; the lockout ends', async () => {
        // The phone's own code is refused while locked (self-unlock is off).
        const phone = await login(a, generateCode(totp, Date.now()));
        expect(phone.code).toBe(1);
        const [r] = await askAgent(a.socket, [begin(USER, 'sshd')]);
        expect(r).toMatchObject({ type: 'prompt' });
        expect((r as { message: string }).message).toContain(
          'A helpdesk code from your administrator works here',
        );
        const ok = await login(a, codes.locked.code);
        expect(ok.code, ok.stdout).toBe(0);
        const s = await a.cli(['status', '--json']);
        expect((s.json as { locked: string[] }).locked).not.toContain(USER);
      });

      it('an expired code is refused, and says so', async () => {
        const wait = Date.parse(codes.short.expiresAt) - Date.now() + 1500;
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const r = await login(a, codes.short.code);
        expect(r.code).toBe(1);
        expect(r.stdout).toMatch(/This helpdesk code expired at \d\d:\d\d; ask for a new one/);
      }, 180_000);

      it('back online, the server stores the events as their own kind and idvctl events shows them', async () => {
        await server.restart();
        await waitFor(async () => {
          const r = await idvctl(server, ['events', '--user', USER, '--limit', '200']);
          const ev = (r.json as { events: { outcome: string; reason?: string }[] }).events;
          return ev.filter((e) => e.outcome === 'ok' && e.reason === 'helpdesk').length >= 3;
        }, 'the helpdesk logins to reach the server');
        const human = await plainIdvctl(['events', '--user', USER]);
        expect(human.stdout).toMatch(/ok\s+helpdesk/);
        expect(human.stdout).toMatch(/invalid\s+helpdesk-used/);
      }, 60_000);
    });
  });
});
