/**
 * The admin console in a real browser (Debian's chromium driven by playwright-core) against a
 * real idv-server (in this process, so its clock can be moved), a real idv-agent and the real
 * PAM helper: first admin set-up, sign-in with password + code, a policy change pushed to the
 * agent and shown acked, a user unlocked from the page logging in through the helper, the
 * helpdesk role refused a policy change, CSRF refused, five wrong codes locking an admin and
 * another admin unlocking, session expiry. Screenshots of every page go to tests/artifacts/.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCode } from '../../protocol/totp.js';
import { loadConfig } from '../../server/config.js';
import { initDataDir } from '../../server/datadir.js';
import { startServer, type RunningServer } from '../../server/serve.js';
import {
  addEnrolledUser,
  askAgent,
  begin,
  runRegister,
  startAgent,
  waitFor,
  type TestAgent,
} from '../helpers/agent.js';
import { closePages, openPage, screenshots } from '../helpers/browser.js';
import { missing } from '../helpers/require.js';
import { idvctl } from '../helpers/server.js';
import { pamEnv, runHelper } from '../integration/helper-world.js';
import type { TotpParams } from '../../protocol/messages.js';

const skip = missing({ commands: ['chromium'] });
const VIEWPORTS = { phone: { width: 360, height: 780 }, laptop: { width: 1366, height: 900 } };
const PASSWORD = 'grey heron over the quiet lake';

let base: string;
let server: RunningServer;
let adminToken: string;
let setupToken: string;
let agent: TestAgent;
let carol: TotpParams;
/** Moves the server's clock (session expiry, and a fresh TOTP step for each code). */
let offset = 0;
const now = () => Date.now() + offset;

const browser = (): Promise<Page> => openPage(VIEWPORTS.laptop);

async function shot(page: Page, name: string): Promise<void> {
  await screenshots(page, `console-${name}`, VIEWPORTS);
}

const srv = () => ({ url: server.url, adminToken });

async function ctl(args: string[]): Promise<Record<string, unknown>> {
  const r = await idvctl(srv(), args);
  if (r.code !== 0) throw new Error(`idvctl ${args.join(' ')}: ${r.stdout}${r.stderr}`);
  return r.json as Record<string, unknown>;
}

/** A code for a fresh time step: the server's clock moves on 30 s first (one use per step). */
function nextCode(totp: TotpParams): string {
  offset += 30_000;
  return generateCode(totp, now());
}

function secretParams(secret: string): TotpParams {
  return { secret, algorithm: 'SHA1', digits: 6, period: 30 };
}

/** Opens a set-up link, sets the password and the app; returns the admin's TOTP parameters. */
async function setUp(page: Page, link: string, name: string, shots = false): Promise<TotpParams> {
  await page.goto(link);
  if (shots) await shot(page, 'setup-start');
  await page.getByRole('button', { name: 'Start set-up' }).click();
  await page.waitForURL(`${server.url}/admin/setup`);
  const secret = ((await page.locator('#secret').textContent()) ?? '').replace(/\s/g, '');
  const totp = secretParams(secret);
  if (shots) {
    // A common password is refused with a reason, and nothing is set up.
    await page.getByLabel('New password').fill('password1234');
    await page.getByLabel('The same password again').fill('password1234');
    await page.getByLabel('6-digit code').fill(nextCode(totp));
    await page.getByRole('button', { name: 'Finish set-up' }).click();
    await expect(page.locator('#alert').textContent()).resolves.toContain('most common passwords');
    await shot(page, 'setup');
  }
  await page.getByLabel('New password').fill(PASSWORD);
  await page.getByLabel('The same password again').fill(PASSWORD);
  await page.getByLabel('6-digit code').fill(nextCode(totp));
  await page.getByRole('button', { name: 'Finish set-up' }).click();
  await expect(page.locator('h1').textContent()).resolves.toBe('Save your recovery codes');
  await expect(page.locator('#recovery-codes li').count()).resolves.toBe(10);
  if (shots) await shot(page, 'setup-recovery-codes');
  void name;
  return totp;
}

async function signIn(page: Page, name: string, totp: TotpParams): Promise<void> {
  await page.goto(`${server.url}/admin/signin`);
  await page.getByLabel('Admin name').fill(name);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.waitForURL(`${server.url}/admin/signin/code`);
  await page.getByLabel('Code').fill(nextCode(totp));
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${server.url}/admin`);
}

describe.skipIf(skip)('admin console in chromium', () => {
  beforeAll(async () => {
    base = mkdtempSync(join(tmpdir(), 'idv-console-'));
    const dataDir = join(base, 'data');
    ({ token: adminToken, setupToken } = await initDataDir(dataDir, Date.now(), {
      firstAdmin: 'ada',
    }));
    const config = loadConfig({ env: {}, flags: { dataDir, listen: '127.0.0.1:0' } });
    server = await startServer(config, { clock: now });
    agent = await startAgent({ server: srv(), policy: { maxAttempts: 3, lockoutSeconds: 900 } });
    carol = (await addEnrolledUser(srv(), 'carol', ['ops'])).totp;
    await ctl(['user', 'add', 'dan', '--group', 'dev']);
  }, 120_000);

  afterAll(async () => {
    await closePages();
    await agent?.stop();
    await server?.stop();
    if (base) rmSync(base, { recursive: true, force: true });
  });

  let ada: Page;
  let adaTotp: TotpParams;

  it('sets up the first admin from the init link and signs in with password and code', async () => {
    ada = await browser();
    adaTotp = await setUp(ada, `${server.url}/admin/setup/${setupToken}`, 'ada', true);
    // The link worked once.
    const again = await ada.goto(`${server.url}/admin/setup/${setupToken}`);
    expect(again?.status()).toBe(410);
    await ada.goto(`${server.url}/admin`);
    await ada.getByRole('button', { name: 'Sign out' }).click();
    await ada.waitForURL(`${server.url}/admin/signin`);
    await shot(ada, 'signin');
    // A wrong password, then the right one and a code.
    await ada.getByLabel('Admin name').fill('ada');
    await ada.getByLabel('Password').fill('not the password at all');
    await ada.getByRole('button', { name: 'Continue' }).click();
    await expect(ada.locator('#alert').textContent()).resolves.toContain('not right');
    await signIn(ada, 'ada', adaTotp);
    const res = await ada.goto(`${server.url}/admin`);
    expect(res?.headers()['cache-control']).toBe('no-store');
    expect(res?.headers()['content-security-policy']).toContain("frame-ancestors 'none'");
    const cookie = (await ada.context().cookies()).find((c) => c.name === 'idv_console');
    expect(cookie?.httpOnly).toBe(true);
    expect(cookie?.sameSite).toBe('Strict');
    await expect(ada.locator('h1').textContent()).resolves.toBe('Overview');
    await shot(ada, 'overview');
  }, 120_000);

  it('a policy change made in the page reaches the agent and the page shows it acked', async () => {
    await ada.goto(`${server.url}/admin/policy`);
    await expect(ada.locator('main').textContent()).resolves.toContain(
      'pushed at once to the 1 device',
    );
    await shot(ada, 'policy');
    await ada.getByLabel('maxAttempts').fill('4');
    await ada.getByRole('button', { name: /Save and push/ }).click();
    await ada.waitForURL(/\/admin\/policy\?group=default&revision=\d+/);
    const revision = Number(new URL(ada.url()).searchParams.get('revision'));
    await ada
      .locator('[data-text]')
      .filter({ hasText: '1 of 1 device has applied the change — done.' })
      .waitFor({ timeout: 60_000 });
    const status = await agent.cli(['status', '--json']);
    expect((status.json as { revision: number }).revision).toBeGreaterThanOrEqual(revision);
    await shot(ada, 'policy-pushed');
    const shown = await ctl(['policy', 'show']);
    expect((shown.policy as { maxAttempts: number }).maxAttempts).toBe(4);
  }, 120_000);

  it('a user unlocked from the page logs in through the real helper', async () => {
    for (let i = 0; i < 4; i++)
      await askAgent(agent.socket, [begin('carol', 'sshd'), { type: 'verify', code: '000000' }]);
    const locked = await askAgent(agent.socket, [begin('carol', 'sshd')]);
    expect(JSON.stringify(locked)).toContain('locked');
    await waitFor(async () => {
      const r = await ctl(['events', '--user', 'carol']);
      return JSON.stringify(r).includes('"locked"');
    }, 'the lockout event at the server');
    await ada.goto(`${server.url}/admin/users?user=carol`);
    await shot(ada, 'users');
    await ada.getByRole('button', { name: 'Unlock on every device' }).click();
    await ada.waitForURL(`${server.url}/admin/users?user=carol`);
    await expect(ada.locator('#alert').textContent()).resolves.toContain('carol unlocked');
    await waitFor(async () => {
      // The plain prompt: no lockout message any more (a locked user is offered a helpdesk code).
      const [r] = await askAgent(agent.socket, [begin('carol', 'sshd')]);
      return r?.type === 'prompt' && r.message === undefined;
    }, 'the agent to take the unlock');
    const login = await runHelper(
      ['--socket', agent.socket, '--authtok'],
      pamEnv('carol'),
      // The agent judges codes on the server's time (which this test moves), not its own.
      generateCode(carol, now()),
    );
    expect(login.code).toBe(0);
  }, 120_000);

  it('a helpdesk code shown once on the user page lets the user in through the real helper', async () => {
    await ada.goto(`${server.url}/admin/users?user=carol`);
    await ada.getByLabel('Device for the helpdesk code').selectOption(agent.deviceId);
    await ada.getByLabel('Helpdesk code valid for').selectOption('3600');
    await ada.getByRole('button', { name: 'Show a helpdesk code' }).click();
    const code = (await ada.locator('#helpdesk-code').textContent()) ?? '';
    expect(code).toMatch(/^\d{3}-\d{3}-\d{3}-\d{3}$/);
    await expect(ada.locator('main').textContent()).resolves.toContain('It works once');
    await shot(ada, 'helpdesk-code');
    const login = await runHelper(['--socket', agent.socket, '--authtok'], pamEnv('carol'), code);
    expect(login.code, login.stdout).toBe(0);
    expect(login.stdout).toContain('Helpdesk code accepted');
    const again = await runHelper(['--socket', agent.socket, '--authtok'], pamEnv('carol'), code);
    expect(again.code).toBe(1);
  }, 120_000);

  it('shows the devices, events and audit pages', async () => {
    await ada.goto(`${server.url}/admin/devices`);
    await expect(ada.locator('[aria-labelledby=list-h] tbody tr').count()).resolves.toBe(1);
    await shot(ada, 'devices');
    await ada.goto(`${server.url}/admin/events`);
    await expect(ada.locator('tbody').textContent()).resolves.toContain('carol');
    await shot(ada, 'events');
    await ada.goto(`${server.url}/admin/audit`);
    const audit = (await ada.locator('tbody').textContent()) ?? '';
    expect(audit).toContain('policy.set');
    expect(audit).toContain('user.unlock');
    expect(audit).toContain('admin:ada');
    await shot(ada, 'audit');
    // idvctl reads the same log.
    const r = await ctl(['audit']);
    const entries = r.entries as { actor: string; action: string; detail: unknown }[];
    expect(entries).toContainEqual(
      expect.objectContaining({
        actor: 'admin:ada',
        action: 'policy.set',
        // The value it replaced too (the agent's start set 3).
        detail: { maxAttempts: 4, was: { maxAttempts: 3 } },
      }),
    );
  }, 120_000);

  it('registration tokens: made, listed and revoked in the page; a real agent register is refused after', async () => {
    const register = (token: string) =>
      runRegister(server, join(mkdtempSync(join(base, 'reg-')), 'data'), token);
    const create = async (uses: string): Promise<{ id: string; token: string }> => {
      await ada.goto(`${server.url}/admin/devices`);
      await ada.locator('#t-group').fill('lab');
      await ada.locator('#t-uses').fill(uses);
      await ada.locator('#t-ttl').fill('2h');
      await ada.getByRole('button', { name: 'Create token' }).click();
      await expect(ada.locator('h1').textContent()).resolves.toBe('Registration token');
      const token = ((await ada.locator('#token').textContent()) ?? '').trim();
      const id = /Token ([0-9a-f]{16})/.exec((await ada.locator('main').textContent()) ?? '')?.[1];
      expect(token).toMatch(/^idv_/);
      return { id: id ?? '', token };
    };
    // One use: the first machine registers, the second is refused.
    const once = await create('1');
    await shot(ada, 'token-created');
    expect((await register(once.token)).code).toBe(0);
    const spent = await register(once.token);
    expect(spent.code).not.toBe(0);
    expect(spent.stdout + spent.stderr).toContain('TOKEN_INVALID');
    // Five uses, revoked in the page (after a confirmation): refused with uses left.
    const five = await create('5');
    await ada.goto(`${server.url}/admin/devices`);
    const row = ada.locator('[aria-labelledby=tokens-h] tbody tr').filter({ hasText: five.id });
    await expect(row.textContent()).resolves.toMatch(/lab\s*5 of 5.*active/s);
    await expect(
      ada.locator('[aria-labelledby=tokens-h] tbody tr').filter({ hasText: once.id }).textContent(),
    ).resolves.toMatch(/0 of 1.*admin:ada.*used up/s);
    await row.getByText('Revoke…').click();
    await shot(ada, 'devices-tokens');
    // Not without the confirmation: the browser will not send it, nor does the server take it.
    const csrf = await ada.locator('input[name=csrf]').first().getAttribute('value');
    const bare = await ada.request.post(`${server.url}/admin/devices/tokens/${five.id}/revoke`, {
      form: { csrf: csrf ?? '' },
    });
    expect(bare.status()).toBe(400);
    await row.getByLabel(`Revoke token ${five.id}`).check();
    await row.getByRole('button', { name: 'Revoke token' }).click();
    await ada.waitForURL(`${server.url}/admin/devices`);
    await expect(ada.locator('#alert').textContent()).resolves.toContain(
      `Revoked registration token ${five.id}`,
    );
    await expect(row.textContent()).resolves.toMatch(/5 of 5.*revoked/s);
    const refused = await register(five.token);
    expect(refused.code).not.toBe(0);
    expect(refused.stdout + refused.stderr).toContain('TOKEN_INVALID');
    // idvctl lists the same, never the token; the audit log names the token revoked.
    const listed = await ctl(['device', 'token', 'list']);
    expect(JSON.stringify(listed)).not.toContain(five.token);
    expect(listed.tokens).toContainEqual(
      expect.objectContaining({
        id: five.id,
        state: 'revoked',
        usesLeft: 5,
        createdBy: 'admin:ada',
      }),
    );
    const audit = await ctl(['audit', '--limit', '20']);
    expect(audit.entries).toContainEqual(
      expect.objectContaining({ action: 'device.token-revoke', target: five.id, result: 'ok' }),
    );
    expect(audit.entries).toContainEqual(
      expect.objectContaining({ action: 'device.token-create', target: once.id }),
    );
    const devices = (await ctl(['device', 'list'])).devices as { deviceGroup: string }[];
    expect(devices.filter((d) => d.deviceGroup === 'lab')).toHaveLength(1);
  }, 120_000);

  it('refuses a form without the right CSRF token, and changes nothing', async () => {
    const res = await ada.request.post(`${server.url}/admin/users/dan/suspend`, {
      form: { csrf: 'x'.repeat(43) },
    });
    expect(res.status()).toBe(403);
    const dan = await ctl(['user', 'show', 'dan']);
    expect(dan.status).toBe('active');
  });

  it('the helpdesk role is refused a policy change (403, nothing stored)', async () => {
    await ada.goto(`${server.url}/admin/admins`);
    await ada.getByLabel('Name').fill('hal');
    await ada.getByLabel('Role', { exact: true }).selectOption('helpdesk');
    await ada.getByRole('button', { name: /Add and show/ }).click();
    const link = ((await ada.locator('#setup-link').textContent()) ?? '').trim();
    const hal = await browser();
    await setUp(hal, link, 'hal');
    await hal.goto(`${server.url}/admin`);
    await hal.goto(`${server.url}/admin/policy`);
    await shot(hal, 'policy-helpdesk');
    expect(await hal.getByRole('button', { name: /Save and push/ }).count()).toBe(0);
    const csrf = await hal.locator('input[name=csrf]').first().getAttribute('value');
    const res = await hal.request.post(`${server.url}/admin/policy/default`, {
      form: { csrf: csrf ?? '', 'max-attempts': '9' },
    });
    expect(res.status()).toBe(403);
    const shown = await ctl(['policy', 'show']);
    expect((shown.policy as { maxAttempts: number }).maxAttempts).toBe(4);
    expect((await hal.goto(`${server.url}/admin/audit`))?.status()).toBe(403);
    const audit = await ctl(['audit', '--limit', '5']);
    expect(JSON.stringify(audit)).toContain('FORBIDDEN');
  }, 120_000);

  it('five wrong codes lock an admin; the right code is then refused; another admin unlocks', async () => {
    const r = await ctl(['admin', 'add', 'dave']);
    const dave = await browser();
    const daveTotp = await setUp(dave, String(r.link), 'dave');
    await dave.goto(`${server.url}/admin/signin`);
    await dave.getByLabel('Admin name').fill('dave');
    await dave.getByLabel('Password').fill(PASSWORD);
    await dave.getByRole('button', { name: 'Continue' }).click();
    await dave.waitForURL(`${server.url}/admin/signin/code`);
    for (let i = 1; i <= 5; i++) {
      await dave.getByLabel('Code').fill('000000');
      await dave.getByRole('button', { name: 'Sign in' }).click();
      if (i < 5)
        await expect(dave.locator('#alert').textContent()).resolves.toContain(
          `${5 - i} ${5 - i === 1 ? 'attempt' : 'attempts'} left`,
        );
    }
    await expect(dave.locator('h1').textContent()).resolves.toBe('Account locked');
    await shot(dave, 'locked');
    // A sixth try, with the right code, is refused.
    await dave.goto(`${server.url}/admin/signin/code`);
    await dave.getByLabel('Code').fill(nextCode(daveTotp));
    const [sixth] = await Promise.all([
      dave.waitForResponse(
        (res) => res.url().endsWith('/admin/signin/code') && res.request().method() === 'POST',
      ),
      dave.getByRole('button', { name: 'Sign in' }).click(),
    ]);
    expect(sixth.status()).toBe(429);
    const list = await ctl(['admin', 'list']);
    expect(JSON.stringify(list)).toMatch(
      /"name":"dave","role":"admin","status":"active","locked":true/,
    );
    // Another admin unlocks in the page.
    await ada.goto(`${server.url}/admin/admins`);
    await shot(ada, 'admins');
    await ada.getByRole('button', { name: 'Unlock dave' }).click();
    await expect(ada.locator('#alert').textContent()).resolves.toContain('dave unlocked');
    await signIn(dave, 'dave', daveTotp);
    await expect(dave.locator('h1').textContent()).resolves.toBe('Overview');
  }, 180_000);

  it('at 360 px every tab is on screen, no page scrolls sideways, and the keyboard gets around', async () => {
    await ada.setViewportSize(VIEWPORTS.phone);
    const tabs = ['Overview', 'Users', 'Devices', 'Policy', 'Events', 'Audit', 'Admins'];
    for (const [i, path] of [
      '',
      '/users',
      '/devices',
      '/policy',
      '/events',
      '/audit',
      '/admins',
    ].entries()) {
      await ada.goto(`${server.url}/admin${path}`);
      const nav = ada.getByRole('navigation', { name: 'Console' });
      for (const name of tabs) {
        const box = await nav.getByRole('link', { name, exact: true }).boundingBox();
        expect(box, `${name} on ${path || '/'}`).not.toBeNull();
        expect(box!.x).toBeGreaterThanOrEqual(0);
        expect(box!.x + box!.width, `${name} on ${path || '/'}`).toBeLessThanOrEqual(360);
      }
      await expect(nav.locator('[aria-current=page]').textContent()).resolves.toBe(tabs[i]);
      // The logs put each row's cells under each other: the last column is on screen too.
      if (path === '/events' || path === '/audit') {
        const last = await ada
          .locator('table.stack tbody tr')
          .first()
          .locator('td')
          .last()
          .boundingBox();
        expect(last!.x + last!.width, `last column on ${path}`).toBeLessThanOrEqual(360);
      }
      // Wide tables scroll inside their card; the page itself never does.
      const width = await ada.evaluate<number>('document.documentElement.scrollWidth');
      expect(width, `page width of ${path || '/'}`).toBeLessThanOrEqual(360);
    }
    // The first Tab is the skip link; it takes the focus past the navigation to the page.
    await ada.goto(`${server.url}/admin/devices`);
    await ada.keyboard.press('Tab');
    await expect(ada.evaluate<string>('document.activeElement.textContent')).resolves.toBe(
      'Skip to main content',
    );
    await shot(ada, 'skip-link');
    await ada.keyboard.press('Enter');
    await expect(ada.evaluate<string>('document.activeElement.id')).resolves.toBe('main');
    // Tab from the top reaches the last tab, focus ring drawn.
    await ada.goto(`${server.url}/admin/devices`);
    for (let i = 0; i < 20; i++) {
      await ada.keyboard.press('Tab');
      if ((await ada.evaluate<string>('document.activeElement.textContent')) === 'Admins') break;
    }
    const ring = await ada.evaluate<string>(
      'getComputedStyle(document.activeElement).outlineStyle',
    );
    expect(ring).toBe('solid');
    await ada.setViewportSize(VIEWPORTS.laptop);
  }, 120_000);

  it('a session ends after 15 idle minutes', async () => {
    await ada.goto(`${server.url}/admin/users`);
    await expect(ada.locator('h1').textContent()).resolves.toBe('Users');
    offset += 16 * 60_000;
    await ada.goto(`${server.url}/admin/users`);
    expect(ada.url()).toBe(`${server.url}/admin/signin`);
  });
});
