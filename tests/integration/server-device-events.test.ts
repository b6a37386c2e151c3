/**
 * What a device may do with the events it uploads, against a real server and simulated agents
 * speaking the real protocol: an event is attributed to the device that sent it and can neither
 * remove another user's recovery codes nor suppress another device's events, and the text in it
 * (user, service, tty: partly typed by whoever attempts a login) cannot drive the admin's
 * terminal through `idvctl events`.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoginEvent } from '../../protocol/messages.js';
import { recoveryCodeId } from '../../protocol/recovery.js';
import { generateCode } from '../../protocol/totp.js';
import { IDVCTL_BIN, idvctl, run, startServer, type TestServer } from '../helpers/server.js';
import { SimAgent, adminApi, registerDevice } from '../helpers/sim-agent.js';

let server: TestServer;
const agents: SimAgent[] = [];

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await Promise.all(agents.map((a) => a.close()));
  await server?.stop();
});

async function agent(deviceGroup: string): Promise<SimAgent> {
  const a = new SimAgent(server.url, await registerDevice(server, { deviceGroup }));
  agents.push(a);
  await a.connect();
  await a.nextSync();
  return a;
}

async function enrolledWithCodes(name: string, groups: string): Promise<void> {
  expect((await idvctl(server, ['user', 'add', name, '--group', groups])).code).toBe(0);
  const e = (await idvctl(server, ['user', 'enroll', name, '--show-secret'])).json as {
    secret: string;
  };
  const code = generateCode(
    { secret: e.secret, algorithm: 'SHA1', digits: 6, period: 30 },
    Date.now(),
  );
  expect((await idvctl(server, ['user', 'confirm', name, code])).code).toBe(0);
  await adminApi(server, 'POST', `/v1/users/${name}/recovery-codes`, { regenerate: true });
}

async function remaining(name: string): Promise<number> {
  return (await adminApi<{ remaining: number }>(server, 'GET', `/v1/users/${name}/recovery-codes`))
    .remaining;
}

function event(user: string, extra: Partial<LoginEvent> = {}): LoginEvent {
  return {
    id: randomUUID(),
    at: Date.now(),
    user,
    service: 'sshd',
    outcome: 'ok',
    ...extra,
  };
}

describe('events from devices', () => {
  it('removes a recovery code only for a successful login of a user the device may hold', async () => {
    await adminApi(server, 'PATCH', '/v1/policies/ops', { userGroups: ['ops'] });
    await adminApi(server, 'PATCH', '/v1/policies/lab', { userGroups: ['lab'] });
    const ops = await agent('ops');
    await enrolledWithCodes('rita', 'ops');
    const record = await (async () => {
      for (;;) {
        const u = ops.users.get('rita');
        if (u && u.recoveryCodes.length === 10) return u;
        await ops.nextSync();
      }
    })();
    const ids = record.recoveryCodes.map((h) => recoveryCodeId(h) as string);

    // A device of another group, which never held rita, reports her codes as used.
    const lab = await agent('lab');
    expect(lab.users.has('rita')).toBe(false);
    lab.sendEvents(
      ids.slice(0, 3).map((id) => event('rita', { reason: 'recovery', recoveryCodeId: id })),
    );
    await lab.next('eventsAck');
    expect(await remaining('rita')).toBe(10);

    // The entitled device reporting a failed login with an id removes nothing either.
    ops.sendEvents([
      event('rita', { outcome: 'invalid', reason: 'recovery', recoveryCodeId: ids[0] as string }),
    ]);
    await ops.next('eventsAck');
    expect(await remaining('rita')).toBe(10);

    // A real use on the entitled device does.
    ops.sendEvents([event('rita', { reason: 'recovery', recoveryCodeId: ids[0] as string })]);
    await ops.next('eventsAck');
    expect(await remaining('rita')).toBe(9);
  });

  it('keeps each device’s events apart: reusing another device’s event id suppresses nothing', async () => {
    const a = await agent('default');
    const b = await agent('default');
    const shared = randomUUID();
    a.sendEvents([event('sam', { id: shared, outcome: 'invalid', service: 'sudo' })]);
    await a.next('eventsAck');
    b.sendEvents([event('sam', { id: shared, outcome: 'locked', service: 'sshd' })]);
    expect((await b.next('eventsAck')).ids).toEqual([shared]);
    const ofB = (await idvctl(server, ['events', '--device', b.identity.deviceId])).json as {
      events: { id: string; outcome: string; device: string }[];
    };
    expect(ofB.events).toEqual([
      expect.objectContaining({ id: shared, outcome: 'locked', device: b.identity.deviceId }),
    ]);
    // A resend by the same device is still stored once.
    b.sendEvents([event('sam', { id: shared, outcome: 'locked', service: 'sshd' })]);
    await b.next('eventsAck');
    const all = (await idvctl(server, ['events', '--user', 'sam'])).json as {
      events: { device: string }[];
    };
    expect(all.events.map((e) => e.device).sort()).toEqual(
      [a.identity.deviceId, b.identity.deviceId].sort(),
    );
  });

  it('prints hostile event text without terminal control characters', async () => {
    const a = await agent('default');
    const hostile = '\u001b]0;owned\u0007\u001b[2J\u009b31mroot\r\nfake';
    a.sendEvents([event(hostile, { service: `su${hostile}`, tty: hostile, rhost: hostile })]);
    await a.next('eventsAck');
    const human = await run(IDVCTL_BIN, [
      '--server',
      server.url,
      '--token',
      server.adminToken,
      'events',
    ]);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('owned');
    // eslint-disable-next-line no-control-regex
    expect(human.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
    expect(human.stdout.split('\n').some((l) => l.startsWith('fake'))).toBe(false);
  });
});
