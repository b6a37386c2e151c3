/**
 * What devices see of the portal's work, through a simulated agent speaking the real protocol:
 * activation and the ten recovery-code hashes arrive at once; a code used at the portal, or
 * reported used by a device, disappears from every device and from the portal.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UserRecord } from '../../protocol/messages.js';
import { findRecoveryCode, recoveryCodeId } from '../../protocol/recovery.js';
import { registerDevice, SimAgent } from '../helpers/sim-agent.js';
import { idvctl, startServer, type TestServer } from '../helpers/server.js';
import { Client, codesOf, csrfOf, secretOf, totp } from './portal-client.js';

let server: TestServer;
let agent: SimAgent;

beforeAll(async () => {
  server = await startServer();
  agent = new SimAgent(server.url, await registerDevice(server));
  await agent.connect();
  await agent.nextSync();
});
afterAll(async () => {
  agent?.ws?.close();
  await server?.stop();
});

/** Waits until the device's record of `user` satisfies `pred`. */
async function deviceSees(user: string, pred: (u: UserRecord) => boolean): Promise<UserRecord> {
  for (;;) {
    const u = agent.users.get(user);
    if (u && pred(u)) return u;
    await agent.nextSync();
  }
}

async function signIn(user: string, code: string): Promise<number> {
  const c = new Client(server.url);
  const form = await (await c.get('/portal/signin')).text();
  return (await c.post('/portal/signin', { csrf: csrfOf(form), user, code })).status;
}

describe('portal → devices', () => {
  it('pushes the activation with the hashes of the ten codes, and removes each used one everywhere', async () => {
    expect((await idvctl(server, ['user', 'add', 'uma'])).code).toBe(0);
    const link = (
      (await idvctl(server, ['user', 'enroll', 'uma'])).json as {
        link: string;
      }
    ).link;
    const c = new Client(server.url);
    await c.openLink(link);
    const page = await (await c.get('/portal/enroll')).text();
    const secret = secretOf(page);
    await c.post('/portal/enroll', { csrf: csrfOf(page), code: totp(secret) });
    const codes = codesOf(await (await c.get('/portal/recovery-codes')).text());
    expect(codes).toHaveLength(10);

    // The device gets the secret and ten hashes, which match the codes the user saw.
    const record = await deviceSees('uma', (u) => u.totp !== null && u.recoveryCodes.length === 10);
    expect(record.totp?.secret).toBe(secret);
    for (const h of record.recoveryCodes) for (const code of codes) expect(h).not.toContain(code);
    expect(await findRecoveryCode(codes[4] as string, record.recoveryCodes)).toBeGreaterThanOrEqual(
      0,
    );

    // Used at the portal: gone from the device.
    const first = await findRecoveryCode(codes[0] as string, record.recoveryCodes);
    const firstId = recoveryCodeId(record.recoveryCodes[first] as string);
    expect(await signIn('uma', codes[0] as string)).toBe(303);
    const after = await deviceSees('uma', (u) => u.recoveryCodes.length === 9);
    expect(after.recoveryCodes.map(recoveryCodeId)).not.toContain(firstId);

    // Used at a device (reported as an event): gone from every device and from the portal.
    const second = await findRecoveryCode(codes[1] as string, after.recoveryCodes);
    const secondId = recoveryCodeId(after.recoveryCodes[second] as string) as string;
    agent.send({
      type: 'events',
      events: [
        {
          id: crypto.randomUUID(),
          at: Date.now(),
          user: 'uma',
          service: 'sshd',
          outcome: 'ok',
          reason: 'recovery',
          recoveryCodeId: secondId,
        },
      ],
    });
    const later = await deviceSees('uma', (u) => u.recoveryCodes.length === 8);
    expect(later.recoveryCodes.map(recoveryCodeId)).not.toContain(secondId);
    expect(
      ((await idvctl(server, ['user', 'recovery-codes', 'uma'])).json as { remaining: number })
        .remaining,
    ).toBe(8);
    expect(await signIn('uma', codes[1] as string)).toBe(400);
    expect(await signIn('uma', codes[2] as string)).toBe(303);
  });
});
