/**
 * Portal sign-in limits that span user names, against a real server: someone rotating through
 * many names from one address gets a bounded number of guesses in all, not maxAttempts per name.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCode } from '../../protocol/totp.js';
import { idvctl, startServer, type TestServer } from '../helpers/server.js';
import { Client, csrfOf } from './portal-client.js';

let server: TestServer;

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.stop();
});

async function signIn(c: Client, user: string, code: string) {
  const form = await (await c.get('/portal/signin')).text();
  const r = await c.post('/portal/signin', { csrf: csrfOf(form), user, code });
  return { status: r.status, text: await r.text() };
}

describe('portal sign-in limit per client', () => {
  it('stops a client that guesses across many user names, also for a name it never tried', async () => {
    expect((await idvctl(server, ['user', 'add', 'victim'])).code).toBe(0);
    const e = (await idvctl(server, ['user', 'enroll', 'victim', '--show-secret'])).json as {
      secret: string;
    };
    const params = { secret: e.secret, algorithm: 'SHA1' as const, digits: 6 as const, period: 30 };
    expect(
      (await idvctl(server, ['user', 'confirm', 'victim', generateCode(params, Date.now())])).code,
    ).toBe(0);

    const c = new Client(server.url);
    // Thirty guesses at once, across fifteen names (two each: far below any per-name limit).
    // They are counted in the same turn as they are checked, so exactly twenty are judged.
    const burst = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        signIn(new Client(server.url), `guess${i % 15}`, '000000'),
      ),
    );
    const statuses = burst.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 400)).toHaveLength(20);
    expect(statuses.filter((s) => s === 429)).toHaveLength(10);
    expect((await signIn(c, 'guess99', '000000')).status).toBe(429);
    // From this client even the right code for an untouched name is refused for now...
    const blocked = await signIn(c, 'victim', generateCode(params, Date.now() + 30_000));
    expect(blocked.status).toBe(429);
    expect(blocked.text).toContain('Too many attempts');
  });
});
