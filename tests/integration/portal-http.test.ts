/**
 * The portal over plain HTTP against a real idv-server process: link exchange, headers, CSRF,
 * confirm, recovery codes (shown once, download, one-time sign-in, regenerate), lockout and the
 * admin's five attempts, reset with a new link, grace start, and nothing secret in the logs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idvctl, startServer, type TestServer } from '../helpers/server.js';
import { Client as BaseClient, codesOf, csrfOf, secretOf, totp } from './portal-client.js';

let server: TestServer;
/** Everything secret the tests saw; none may appear in the server log. */
const secrets: string[] = [];

/** The portal client, reporting every session id it gets (they must not be logged either). */
class Client extends BaseClient {
  constructor(base: string) {
    super(base, (id) => secrets.push(id));
  }
}

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.stop();
});

async function ctl(args: string[]): Promise<Record<string, unknown>> {
  const r = await idvctl(server, args);
  if (r.code !== 0) throw new Error(`idvctl ${args.join(' ')}: ${r.stdout}${r.stderr}`);
  return r.json as Record<string, unknown>;
}

async function linkFor(user: string): Promise<string> {
  const r = await ctl(['user', 'enroll', user]);
  secrets.push(new URL(r.link as string).pathname.split('/').pop() as string);
  return r.link as string;
}

/** Opens a link and confirms with a right code: returns the secret and the ten codes. */
async function enrollThroughPortal(
  user: string,
): Promise<{ client: Client; secret: string; codes: string[] }> {
  const client = new Client(server.url);
  const first = await client.openLink(await linkFor(user));
  expect(first.status).toBe(303);
  const page = await (await client.get('/portal/enroll')).text();
  const secret = secretOf(page);
  secrets.push(secret);
  const done = await client.post('/portal/enroll', {
    csrf: csrfOf(page),
    code: totp(secret, Date.now() - 30_000),
  });
  expect(done.status).toBe(303);
  expect(done.headers.get('location')).toBe('/portal/recovery-codes');
  const codes = codesOf(await (await client.get('/portal/recovery-codes')).text());
  secrets.push(...codes);
  return { client, secret, codes };
}

describe('portal over HTTP', () => {
  it('trades a one-time link for a strict session cookie and a URL without the token', async () => {
    await ctl(['user', 'add', 'alice']);
    const link = await linkFor('alice');
    const client = new Client(server.url);
    const res = await client.openLink(link);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/portal/enroll');
    const cookie = res.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).toMatch(/Path=\//);
    expect(res.headers.get('content-security-policy')).toBe(
      "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );

    const page = await client.get('/portal/enroll');
    expect(page.status).toBe(200);
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    const html = await page.text();
    expect(html).toContain('<svg class="qr" role="img"');
    expect(html).not.toMatch(/<script|style=/i);
    expect(html).toContain('Google Authenticator');
    expect(html).toMatch(/<label for="code">/);
    const secret = secretOf(html);
    secrets.push(secret);
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);

    // The link works once: a second visit (any browser) gets the clear 410 page.
    const again = await new Client(server.url).get(link);
    expect(again.status).toBe(410);
    const gone = await again.text();
    expect(gone).toContain('This setup link no longer works');
    expect(gone).toContain('idvctl user enroll');
  });

  it('is not spent by GETs (link previewers, scanners): only the Start setup POST spends it', async () => {
    await ctl(['user', 'add', 'pia']);
    const link = await linkFor('pia');
    // A previewer, then a scanner, each a fresh client: a page with the button, no session.
    for (let i = 0; i < 2; i++) {
      const preview = await new Client(server.url).get(link);
      expect(preview.status).toBe(200);
      expect(preview.headers.get('set-cookie')).toBeNull();
      expect(preview.headers.get('cache-control')).toBe('no-store');
      expect(preview.headers.get('referrer-policy')).toBe('no-referrer');
      const html = await preview.text();
      expect(html).toContain('<button type="submit" id="start">Start setup</button>');
      expect(html).toContain('pia');
      expect(html).not.toContain('id="secret"');
    }
    // A form posted from another site spends nothing either.
    const forged = await new Client(server.url).post(
      link,
      { start: '1' },
      { origin: 'https://evil.example' },
    );
    expect(forged.status).toBe(403);
    // The person's click works after all of that.
    const client = new Client(server.url);
    const started = await client.post(link, { start: '1' });
    expect(started.status).toBe(303);
    expect(started.headers.get('location')).toBe('/portal/enroll');
    expect(started.headers.get('set-cookie')).toMatch(/HttpOnly/);
    expect((await client.get('/portal/enroll')).status).toBe(200);
    // Spent: a second POST (another browser, or the same one) and a later GET get the clear page.
    for (const again of [
      await new Client(server.url).post(link, { start: '1' }),
      await client.post(link, { start: '1' }),
      await new Client(server.url).get(link),
    ]) {
      expect(again.status).toBe(410);
      expect(await again.text()).toContain('This setup link no longer works');
    }
  });

  it('refuses a POST without the CSRF token or from another site, and a wrong code', async () => {
    await ctl(['user', 'add', 'bob']);
    const client = new Client(server.url);
    await client.openLink(await linkFor('bob'));
    const html = await (await client.get('/portal/enroll')).text();
    const secret = secretOf(html);
    secrets.push(secret);
    const code = totp(secret);

    const noToken = await client.post('/portal/enroll', { code });
    expect(noToken.status).toBe(403);
    const otherSite = await client.post(
      '/portal/enroll',
      { csrf: csrfOf(html), code },
      { origin: 'http://evil.example' },
    );
    expect(otherSite.status).toBe(403);
    const wrong = await client.post('/portal/enroll', {
      csrf: csrfOf(html),
      code: code === '000000' ? '111111' : '000000',
    });
    expect(wrong.status).toBe(400);
    expect(await wrong.text()).toMatch(/That code does not match\. 4 attempts left\./);
    expect((await ctl(['user', 'show', 'bob'])).enrolled).toBe(false);
  });

  it('activates with a right code, shows ten codes once with a download, stores only hashes', async () => {
    await ctl(['user', 'add', 'carol']);
    const { client, codes } = await enrollThroughPortal('carol');
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    expect((await ctl(['user', 'show', 'carol'])).enrolled).toBe(true);
    expect((await ctl(['user', 'recovery-codes', 'carol'])).remaining).toBe(10);

    const file = await client.get('/portal/recovery-codes.txt');
    expect(file.headers.get('content-disposition')).toBe(
      'attachment; filename="idv-recovery-codes-carol.txt"',
    );
    expect(file.headers.get('cache-control')).toBe('no-store');
    const text = await file.text();
    for (const c of codes) expect(text).toContain(c);

    // "I have saved them": the codes are gone from the session for good.
    const page = await (await client.get('/portal/recovery-codes')).text();
    const done = await client.post('/portal/recovery-codes/done', { csrf: csrfOf(page) });
    expect(done.headers.get('location')).toBe('/portal/account');
    expect((await client.get('/portal/recovery-codes')).status).toBe(303);
    expect((await client.get('/portal/recovery-codes.txt')).status).toBe(401);

    // The database holds hashes, never the codes.
    const { readFileSync, readdirSync } = await import('node:fs');
    const db = readdirSync(server.dataDir)
      .filter((f) => f.startsWith('idv.db'))
      .map((f) => readFileSync(`${server.dataDir}/${f}`).toString('latin1'))
      .join('');
    for (const c of codes) expect(db).not.toContain(c);
  });

  it('signs in with a recovery code once; the same code is refused after', async () => {
    await ctl(['user', 'add', 'dave']);
    const { codes } = await enrollThroughPortal('dave');
    const client = new Client(server.url);
    const form = await (await client.get('/portal/signin')).text();
    const ok = await client.post('/portal/signin', {
      csrf: csrfOf(form),
      user: 'dave',
      code: (codes[0] as string).toUpperCase(),
    });
    expect(ok.status).toBe(303);
    const account = await (await client.get(ok.headers.get('location') as string)).text();
    expect(account).toContain('You used a recovery code');
    expect(account).toMatch(/Recovery codes left<\/dt><dd>9</);
    expect((await ctl(['user', 'recovery-codes', 'dave'])).remaining).toBe(9);

    const other = new Client(server.url);
    const form2 = await (await other.get('/portal/signin')).text();
    const again = await other.post('/portal/signin', {
      csrf: csrfOf(form2),
      user: 'dave',
      code: codes[0] as string,
    });
    expect(again.status).toBe(400);
    expect(await again.text()).toContain('The user name or the code is not right.');
  });

  it('locks portal sign-in after the policy maxAttempts, for unknown names too; unlock clears it', async () => {
    await ctl(['policy', 'set', '--max-attempts', '3', '--lockout', '0']);
    await ctl(['user', 'add', 'erin']);
    await enrollThroughPortal('erin');
    for (const user of ['erin', 'nobody-here']) {
      const client = new Client(server.url);
      let html = await (await client.get('/portal/signin')).text();
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) {
        const r = await client.post('/portal/signin', { csrf: csrfOf(html), user, code: '000000' });
        statuses.push(r.status);
        html = await r.text();
      }
      expect(statuses).toEqual([400, 400, 429]);
      expect(html).toContain('Too many attempts');
      expect(html).toContain('until an administrator unlocks your account');
    }
    await ctl(['user', 'unlock', 'erin']);
    const client = new Client(server.url);
    const html = await (await client.get('/portal/signin')).text();
    const r = await client.post('/portal/signin', {
      csrf: csrfOf(html),
      user: 'erin',
      code: '000000',
    });
    expect(r.status).toBe(400); // counting again from zero, not locked
    await ctl(['policy', 'set', '--max-attempts', '5', '--lockout', '15m']);
  });

  it('gives an admin five attempts even when the policy allows more', async () => {
    await ctl(['policy', 'set', '--max-attempts', '10']);
    const added = await ctl(['user', 'add', 'root-admin', '--admin']);
    expect(added.role).toBe('admin');
    await enrollThroughPortal('root-admin');
    const client = new Client(server.url);
    let html = await (await client.get('/portal/signin')).text();
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await client.post('/portal/signin', {
        csrf: csrfOf(html),
        user: 'root-admin',
        code: '000000',
      });
      statuses.push(r.status);
      html = await r.text();
    }
    expect(statuses).toEqual([400, 400, 400, 400, 429]);
    await ctl(['policy', 'set', '--max-attempts', '5']);
  });

  it('reset-mfa drops codes and prints a new link; regenerate prints ten new codes', async () => {
    await ctl(['user', 'add', 'frank']);
    const { codes } = await enrollThroughPortal('frank');
    const regen = await ctl(['user', 'recovery-codes', 'frank', '--regenerate']);
    const fresh = regen.codes as string[];
    secrets.push(...fresh);
    expect(fresh).toHaveLength(10);
    expect(fresh.some((c) => codes.includes(c))).toBe(false);

    const reset = await ctl(['user', 'reset-mfa', 'frank']);
    expect(reset.enrolled).toBe(false);
    expect(reset.link).toMatch(new RegExp(`^${server.url}/enroll/idv_[A-Za-z0-9_-]{43}$`));
    secrets.push(new URL(reset.link as string).pathname.split('/').pop() as string);
    expect((await ctl(['user', 'recovery-codes', 'frank'])).remaining).toBe(0);
    // Old codes no longer sign in.
    const client = new Client(server.url);
    const html = await (await client.get('/portal/signin')).text();
    const r = await client.post('/portal/signin', {
      csrf: csrfOf(html),
      user: 'frank',
      code: fresh[0] as string,
    });
    expect(r.status).toBe(400);
    // The new link opens the setup page.
    const c2 = new Client(server.url);
    expect((await c2.openLink(reset.link as string)).status).toBe(303);
    expect((await c2.get('/portal/enroll')).status).toBe(200);

    const human = await idvctl(server, ['user', 'reset-mfa', 'frank']);
    expect(human.code).toBe(0);
  });

  it('starts the enrollment grace at user creation, and a reset ends it', async () => {
    const u = await ctl(['user', 'add', 'gina']);
    expect(u.graceStartedAt).toBe(u.createdAt);
    await enrollThroughPortal('gina');
    const reset = await ctl(['user', 'reset-mfa', 'gina']);
    expect(reset.graceStartedAt).toBeNull();
  });

  it('self-service reset: sign in with a recovery code, confirm a new secret, the old one stops', async () => {
    await ctl(['user', 'add', 'hank']);
    const { secret: oldSecret, codes } = await enrollThroughPortal('hank');
    const client = new Client(server.url);
    const form = await (await client.get('/portal/signin')).text();
    await client.post('/portal/signin', {
      csrf: csrfOf(form),
      user: 'hank',
      code: codes[3] as string,
    });
    const account = await (await client.get('/portal/account')).text();
    const reset = await client.post('/portal/reset', { csrf: csrfOf(account) });
    expect(reset.headers.get('location')).toBe('/portal/enroll');
    const page = await (await client.get('/portal/enroll')).text();
    expect(page).toContain('Your old app keeps working until you confirm');
    const newSecret = secretOf(page);
    secrets.push(newSecret);
    expect(newSecret).not.toBe(oldSecret);
    const ok = await client.post('/portal/enroll', { csrf: csrfOf(page), code: totp(newSecret) });
    expect(ok.headers.get('location')).toBe('/portal/recovery-codes');
    secrets.push(...codesOf(await (await client.get('/portal/recovery-codes')).text()));

    // The old app's code no longer signs in; the new one does.
    const c2 = new Client(server.url);
    const f2 = await (await c2.get('/portal/signin')).text();
    const bad = await c2.post('/portal/signin', {
      csrf: csrfOf(f2),
      user: 'hank',
      code: totp(oldSecret),
    });
    expect(bad.status).toBe(400);
    const f3 = await bad.text();
    const good = await c2.post('/portal/signin', {
      csrf: csrfOf(f3),
      user: 'hank',
      code: totp(newSecret, Date.now() + 30_000),
    });
    expect(good.status).toBe(303);
  });

  it('accepts its own forms as browsers send them and refuses cross-site ones; a TOTP code signs in once', async () => {
    await ctl(['user', 'add', 'ivy']);
    const { secret } = await enrollThroughPortal('ivy');
    const code = totp(secret, Date.now() + 30_000);
    const client = new Client(server.url);
    const form = await (await client.get('/portal/signin')).text();
    // Another site's form: the browser says so in Sec-Fetch-Site.
    const forged = await client.post(
      '/portal/signin',
      { csrf: csrfOf(form), user: 'ivy', code },
      { 'sec-fetch-site': 'cross-site', origin: 'null' },
    );
    expect(forged.status).toBe(403);
    // Our own page under Referrer-Policy no-referrer: Chromium sends Origin: null.
    const ok = await client.post(
      '/portal/signin',
      { csrf: csrfOf(form), user: 'ivy', code },
      { 'sec-fetch-site': 'same-origin', origin: 'null' },
    );
    expect(ok.status).toBe(303);
    const account = await (await client.get('/portal/account')).text();
    await client.post('/portal/signout', { csrf: csrfOf(account) });
    expect((await client.get('/portal/account')).status).toBe(401);
    // The same code again: refused (a code is accepted at most once).
    const again = new Client(server.url);
    const f2 = await (await again.get('/portal/signin')).text();
    const replay = await again.post('/portal/signin', { csrf: csrfOf(f2), user: 'ivy', code });
    expect(replay.status).toBe(400);
  });

  it('never writes a secret, a code or a token to the server log', () => {
    const logs = server.logs();
    expect(logs).toContain('enrollment link opened');
    expect(secrets.length).toBeGreaterThan(30);
    for (const s of secrets) expect(logs).not.toContain(s);
  });
});
