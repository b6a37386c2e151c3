/**
 * Portal sign-in limits against a real server: someone rotating through many names from one
 * address gets a bounded number of guesses in all, not maxAttempts per name; and a burst of
 * parallel guesses right after a start (when the first recovery-code guess waits for the lazily
 * built decoy hash, and every guess at a real user waits for scrypt) is judged at most up to the
 * limits, each judged guess counted exactly once. "Judged" is read off the server's log: one
 * `wrong code` line per guess that was actually checked.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { generateCode } from '../../protocol/totp.js';
import { idvctl, startServer, type TestServer } from '../helpers/server.js';
import { Client, csrfOf, secretOf, totp } from './portal-client.js';

let servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  servers = [];
});

/** All guesses come from 127.0.0.1: let 150 connections from one address in at once. */
const ONE_ADDRESS_BURST = { maxConnectionsPerAddress: 1000 };

async function fresh(): Promise<TestServer> {
  const s = await startServer({ config: ONE_ADDRESS_BURST });
  servers.push(s);
  return s;
}

const BURST = 150;
const CLIENT_MAX = 20; // CLIENT_LIMITS.maxAttempts, docs/portal.md
const NAME_MAX = 5; // the default policy's maxAttempts

async function signIn(server: TestServer, c: Client, user: string, code: string) {
  const form = await (await c.get('/portal/signin')).text();
  const r = await c.post('/portal/signin', { csrf: csrfOf(form), user, code });
  return { status: r.status, text: await r.text() };
}

/** Opens BURST sign-in forms first, then sends every guess at once. */
async function burst(
  server: TestServer,
  guess: (i: number) => { user: string; code: string },
  count = BURST,
) {
  const forms = await Promise.all(
    Array.from({ length: count }, async () => {
      const c = new Client(server.url);
      return { c, csrf: csrfOf(await (await c.get('/portal/signin')).text()) };
    }),
  );
  const replies = await Promise.all(
    forms.map(async ({ c, csrf }, i) => {
      const r = await c.post('/portal/signin', { csrf, ...guess(i) });
      await r.text();
      return r.status;
    }),
  );
  return { judged: replies.filter((s) => s === 400).length, replies };
}

function linesOf(server: TestServer, msg: string): number {
  return server
    .logs()
    .split('\n')
    .filter((l) => l.includes(`"msg":"${msg}"`)).length;
}

/**
 * How many times the server has logged `msg` so far: first a request that logs a line of its
 * own is sent and its line awaited, so that every line written before it has arrived (stderr is
 * one ordered pipe).
 */
async function countLines(server: TestServer, msg: string): Promise<number> {
  const marker = 'enrollment link refused (unknown, used or expired)';
  const before = linesOf(server, marker);
  await (await fetch(new URL(`/enroll/${'x'.repeat(32)}`, server.url))).text();
  const deadline = Date.now() + 30_000;
  while (linesOf(server, marker) <= before) {
    if (Date.now() > deadline) throw new Error('the server did not log the marker line');
    await new Promise((r) => setTimeout(r, 20));
  }
  return linesOf(server, msg);
}

async function enrolledUser(server: TestServer, name: string) {
  expect((await idvctl(server, ['user', 'add', name])).code).toBe(0);
  const e = (await idvctl(server, ['user', 'enroll', name, '--show-secret'])).json as {
    secret: string;
  };
  const params = { secret: e.secret, algorithm: 'SHA1' as const, digits: 6 as const, period: 30 };
  expect(
    (await idvctl(server, ['user', 'confirm', name, generateCode(params, Date.now())])).code,
  ).toBe(0);
  expect((await idvctl(server, ['user', 'recovery-codes', name])).code).toBe(0);
  return params;
}

/** A recovery-code-shaped guess, different for each i. */
function recoveryGuess(i: number): string {
  const a = 'abcdefghijklmnopqrstuvwxyz234567';
  return `zzzz-zzzz-z${a[(i >> 5) & 31]}${a[i & 31]}z`;
}

describe('portal sign-in limit per client', () => {
  it('stops a client that guesses across many user names, also for a name it never tried', async () => {
    const server = await fresh();
    const params = await enrolledUser(server, 'victim');
    const c = new Client(server.url);
    // Thirty guesses at once, across fifteen names (two each: far below any per-name limit).
    const statuses = (await burst(server, (i) => ({ user: `guess${i % 15}`, code: '000000' }), 30))
      .replies;
    expect(statuses.filter((s) => s === 400)).toHaveLength(20);
    expect(statuses.filter((s) => s === 429)).toHaveLength(10);
    expect((await signIn(server, c, 'guess99', '000000')).status).toBe(429);
    // From this client even the right code for an untouched name is refused for now...
    const blocked = await signIn(server, c, 'victim', generateCode(params, Date.now() + 30_000));
    expect(blocked.status).toBe(429);
    expect(blocked.text).toContain('Too many attempts');
  });
});

describe('parallel guesses right after a start are judged up to the limits, counted exactly', () => {
  it('recovery-code guesses across names (the decoy hash is built lazily): twenty judged', async () => {
    const server = await fresh();
    const { judged, replies } = await burst(server, (i) => ({
      user: `guess${i % 50}`, // three per name: under the per-name limit
      code: recoveryGuess(i),
    }));
    expect(replies.filter((s) => s !== 429 && s !== 400)).toEqual([]);
    expect(judged).toBe(CLIENT_MAX);
    expect(replies.filter((s) => s === 429)).toHaveLength(BURST - CLIENT_MAX);
    expect(await countLines(server, 'portal sign-in refused: wrong code')).toBe(CLIENT_MAX);
    expect((await signIn(server, new Client(server.url), 'other', '000000')).status).toBe(429);
  });

  it('TOTP guesses across names: twenty judged', async () => {
    const server = await fresh();
    const { judged } = await burst(server, (i) => ({ user: `guess${i % 50}`, code: '000000' }));
    expect(judged).toBe(CLIENT_MAX);
    expect(await countLines(server, 'portal sign-in refused: wrong code')).toBe(CLIENT_MAX);
  });

  it('recovery-code guesses at one real user: five judged; the client keeps exactly fifteen', async () => {
    const server = await fresh();
    await enrolledUser(server, 'victim');
    const first = await burst(server, (i) => ({ user: 'victim', code: recoveryGuess(i) }));
    // Five judged (the guesses still in flight already lock the name, so they may answer 429).
    expect(first.judged).toBeLessThan(NAME_MAX);
    expect(first.replies.every((s) => s === 400 || s === 429)).toBe(true);
    expect(await countLines(server, 'portal sign-in refused: wrong code')).toBe(NAME_MAX);
    // Only the judged guesses count toward the client's twenty: fifteen more are judged.
    const second = await burst(server, (i) => ({ user: `other${i % 50}`, code: '000000' }));
    expect(second.judged).toBe(CLIENT_MAX - NAME_MAX);
    expect(await countLines(server, 'portal sign-in refused: wrong code')).toBe(CLIENT_MAX);
  });

  it('wrong codes sent at once on the set-up page: five judged, then the right code is refused', async () => {
    const server = await fresh();
    expect((await idvctl(server, ['user', 'add', 'newbie'])).code).toBe(0);
    const link = (await idvctl(server, ['user', 'enroll', 'newbie'])).json as { link: string };
    const c = new Client(server.url);
    expect((await c.openLink(link.link)).status).toBe(303);
    const page = await (await c.get('/portal/enroll')).text();
    const csrf = csrfOf(page);
    const secret = secretOf(page);
    const replies = await Promise.all(
      Array.from({ length: BURST }, async () => {
        const r = await c.post('/portal/enroll', { csrf, code: '000000' });
        await r.text();
        return r.status;
      }),
    );
    expect(replies.filter((s) => s === 400).length).toBeLessThan(NAME_MAX);
    expect(replies.filter((s) => s === 429).length).toBeGreaterThan(BURST - NAME_MAX);
    expect(await countLines(server, 'portal enrollment code refused')).toBe(NAME_MAX);
    const right = await c.post('/portal/enroll', { csrf, code: totp(secret) });
    expect(right.status).toBe(429);
  });
});
