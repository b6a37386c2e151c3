/**
 * The portal in a real browser (Debian's chromium driven by playwright-core) against a real
 * idv-server, a real idv-agent and the real PAM helper: a person opens the enrollment link, types
 * the secret into an "app" (protocol/totp.ts, and once oathtool), confirms, keeps the recovery
 * codes, logs in through the helper; then the resets, the used-link and too-many-attempts pages.
 * Screenshots of each page, phone and desktop, go to tests/artifacts/ (not committed).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateCode } from '../../protocol/totp.js';
import { askAgent, begin, startAgent, waitFor, type TestAgent } from '../helpers/agent.js';
import { closePages, openPage, screenshots } from '../helpers/browser.js';
import { missing } from '../helpers/require.js';
import { idvctl, startServer, type TestServer } from '../helpers/server.js';
import { pamEnv, runHelper } from '../integration/helper-world.js';

const skip = missing({ commands: ['chromium', 'oathtool'] });
const VIEWPORTS = {
  phone: { width: 390, height: 844 },
  desktop: { width: 1280, height: 900 },
} as const;
type Viewport = keyof typeof VIEWPORTS;
/** Runs in the page (a string: the test code has no DOM types): the focused element, described. */
const FOCUSED = `(() => {
  const e = document.activeElement;
  return e ? e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + ':' + (e.textContent || '').trim() : '';
})()`;

let server: TestServer;
let agent: TestAgent;
/** Every secret, code and token the browser saw; none may reach the server log. */
const secrets: string[] = [];

/** A fresh browser (its own user data dir) with a viewport. */
const browser = (viewport: Viewport = 'desktop'): Promise<Page> =>
  openPage(VIEWPORTS[viewport], { acceptDownloads: true });

async function shot(page: Page, name: string): Promise<void> {
  await screenshots(page, `portal-${name}`, VIEWPORTS);
}

async function ctl(args: string[]): Promise<Record<string, unknown>> {
  const r = await idvctl(server, args);
  if (r.code !== 0) throw new Error(`idvctl ${args.join(' ')}: ${r.stdout}${r.stderr}`);
  return r.json as Record<string, unknown>;
}

function totp(secret: string, at = Date.now()): string {
  return generateCode({ secret, algorithm: 'SHA1', digits: 6, period: 30 }, at);
}

/** What the agent answers to a login of `user` with `code`. */
async function agentVerdict(user: string, code: string): Promise<string> {
  const replies = await askAgent(agent.socket, [begin(user, 'sshd'), { type: 'verify', code }]);
  return replies.map((r) => String((r as { type: string }).type)).join('/');
}

/** Opens the link, reads the secret, confirms with `codeOf(secret)`; returns secret and codes. */
async function enrollInBrowser(
  page: Page,
  link: string,
  codeOf: (secret: string) => string,
  name?: string,
): Promise<{ secret: string; codes: string[] }> {
  // Opening the link only shows what it is for; loading it again (as a link previewer or a
  // scanner would) leaves it usable. The click on "Start setup" spends it.
  for (let i = 0; i < 2; i++) {
    const shown = await page.goto(link);
    expect(shown?.status()).toBe(200);
    await expect(page.getByRole('button', { name: 'Start setup' }).isVisible()).resolves.toBe(true);
  }
  if (name) await shot(page, `${name}-start`);
  await page.getByRole('button', { name: 'Start setup' }).click();
  await page.waitForURL(`${server.url}/portal/enroll`);
  // The token is gone from the address bar once the setup started.
  expect(page.url()).toBe(`${server.url}/portal/enroll`);
  await expect(page.locator('h1').textContent()).resolves.toBe('Set up your authenticator app');
  await expect(page.locator('svg.qr').isVisible()).resolves.toBe(true);
  const secret = (await page.locator('#secret').textContent())?.replace(/\s/g, '') ?? '';
  expect(secret).toMatch(/^[A-Z2-7]{32}$/);
  secrets.push(secret);
  if (name) {
    // Not enrolled yet: the page says until when logins still work without a code.
    await expect(page.locator('main').textContent()).resolves.toMatch(
      /Until .* you can still log in without a code/,
    );
    await shot(page, name);
  }
  const input = page.getByLabel('6-digit code');
  await input.fill(codeOf(secret));
  await input.press('Enter');
  await page.waitForURL(`${server.url}/portal/recovery-codes`);
  const codes = await page.locator('#recovery-codes li').allTextContents();
  secrets.push(...codes);
  return { secret, codes };
}

describe.skipIf(skip)('portal in a real browser', { timeout: 120_000 }, () => {
  beforeAll(async () => {
    server = await startServer();
    agent = await startAgent({
      server,
      policy: { maxAttempts: 5, lockoutSeconds: 900, selfUnlock: false },
    });
  });
  afterEach(closePages);
  afterAll(async () => {
    await agent?.stop();
    await server?.stop();
  });

  it('enrolls (code from oathtool), keeps the codes, logs in through the helper; an admin reset stops the old code', async () => {
    await ctl(['user', 'add', 'pat']);
    const { link } = (await ctl(['user', 'enroll', 'pat'])) as { link: string };
    secrets.push(link.split('/').pop() as string);
    const page = await browser('phone');
    const { secret, codes } = await enrollInBrowser(
      page,
      link,
      (s) => execFileSync('oathtool', ['--totp', '-b', s], { encoding: 'utf8' }).trim(),
      'enroll',
    );
    expect(codes).toHaveLength(10);
    for (const c of codes) expect(c).toMatch(/^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$/);
    await shot(page, 'recovery-codes');

    // The download is a text file with the same ten codes.
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: 'Download as a text file' }).click(),
    ]);
    expect(download.suggestedFilename()).toBe('idv-recovery-codes-pat.txt');
    const text = readFileSync((await download.path()) as string, 'utf8');
    for (const c of codes) expect(text).toContain(c);

    await page.getByRole('button', { name: 'I have saved my codes' }).click();
    await page.waitForURL(`${server.url}/portal/account`);
    await expect(page.locator('dl.facts').textContent()).resolves.toContain('10');
    await shot(page, 'account');

    // The activation reached the agent: it now asks pat for a code, and the helper logs in.
    await waitFor(
      async () => (await askAgent(agent.socket, [begin('pat', 'sshd')]))[0]?.type === 'prompt',
      'the agent to ask pat for a code',
    );
    // (The agent's replay guard is per user: this login takes the current step, the next one a
    // later step.)
    const login = await runHelper(
      ['--socket', agent.socket, '--authtok'],
      pamEnv('pat'),
      totp(secret),
    );
    expect(login.code).toBe(0);
    // A recovery code shown by the portal logs in through the helper as well, once; the agent
    // reports it and the server stops listing it.
    const rec = await runHelper(
      ['--socket', agent.socket, '--authtok'],
      pamEnv('pat'),
      codes[0] as string,
    );
    expect(rec.code).toBe(0);
    expect(rec.stdout).toContain('9 recovery codes left');
    const recAgain = await runHelper(
      ['--socket', agent.socket, '--authtok'],
      pamEnv('pat'),
      codes[0] as string,
    );
    expect(recAgain.code).toBe(1);
    await waitFor(
      async () => (await ctl(['user', 'recovery-codes', 'pat'])).remaining === 9,
      'the server to drop the used recovery code',
    );

    // Admin reset: the agent stops asking for the old app's codes within a second.
    const reset = await ctl(['user', 'reset-mfa', 'pat']);
    expect(reset.link).toMatch(/\/enroll\//);
    secrets.push((reset.link as string).split('/').pop() as string);
    await waitFor(
      async () => (await askAgent(agent.socket, [begin('pat', 'sshd')]))[0]?.type !== 'prompt',
      'the reset to reach the agent',
      1000,
    );
    // The new link sets up a new app; the old app's code is refused, the new one logs in.
    const page2 = await browser('desktop');
    const fresh = await enrollInBrowser(page2, reset.link as string, (s) => totp(s));
    await waitFor(
      async () => (await askAgent(agent.socket, [begin('pat', 'sshd')]))[0]?.type === 'prompt',
      'the new secret to reach the agent',
    );
    expect(await agentVerdict('pat', totp(secret, Date.now() + 30_000))).toBe('prompt/invalid');
    const again = await runHelper(
      ['--socket', agent.socket, '--authtok'],
      pamEnv('pat'),
      totp(fresh.secret, Date.now() + 30_000),
    );
    expect(again.code).toBe(0);

    // The used links show the clear page, not an error dump.
    const page3 = await browser('phone');
    const res = await page3.goto(link);
    expect(res?.status()).toBe(410);
    await expect(page3.locator('h1').textContent()).resolves.toBe(
      'This setup link no longer works',
    );
    await shot(page3, 'link-gone');
  });

  it('self-service: sign in with a recovery code, set up a new phone, the old code is refused', async () => {
    await ctl(['user', 'add', 'quinn']);
    const { link } = (await ctl(['user', 'enroll', 'quinn'])) as { link: string };
    secrets.push(link.split('/').pop() as string);
    const setup = await browser('desktop');
    const first = await enrollInBrowser(setup, link, (s) => totp(s));
    await waitFor(
      async () => (await askAgent(agent.socket, [begin('quinn', 'sshd')]))[0]?.type === 'prompt',
      'the agent to ask quinn for a code',
    );

    const page = await browser('phone');
    await page.goto(`${server.url}/portal`);
    await page.waitForURL(`${server.url}/portal/signin`);
    await shot(page, 'signin');
    await page.getByLabel('User name').fill('quinn');
    await page.getByLabel('Code', { exact: true }).fill(first.codes[0] as string);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${server.url}/portal/account`);
    await expect(page.getByRole('status').textContent()).resolves.toContain(
      'You used a recovery code',
    );
    await page.getByRole('button', { name: 'Set up a new phone' }).click();
    await page.waitForURL(`${server.url}/portal/enroll`);
    await expect(page.locator('main').textContent()).resolves.toContain(
      'Your old app keeps working until you confirm',
    );
    const secret = (await page.locator('#secret').textContent())?.replace(/\s/g, '') ?? '';
    secrets.push(secret);
    expect(secret).not.toBe(first.secret);
    await shot(page, 'new-phone');

    // A wrong code first: the error is announced (role=alert) and the page stays.
    await page.getByLabel('6-digit code').fill(totp(first.secret));
    await page.getByRole('button', { name: 'Confirm and turn on' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toMatch(
      /That code does not match\. \d attempts? left\./,
    );
    await shot(page, 'wrong-code');
    await page.getByLabel('6-digit code').fill(totp(secret));
    await page.getByLabel('6-digit code').press('Enter');
    await page.waitForURL(`${server.url}/portal/recovery-codes`);
    secrets.push(...(await page.locator('#recovery-codes li').allTextContents()));

    // The agent gets the new secret within a second; the old phone's code is refused.
    await waitFor(
      async () => (await agentVerdict('quinn', totp(first.secret))) === 'prompt/invalid',
      'the old secret to stop working on the agent',
      1000,
    );
    expect(await agentVerdict('quinn', totp(secret, Date.now() + 30_000))).toBe('prompt/ok');
  });

  it('the sign-in page works with the keyboard alone, in a sensible focus order', async () => {
    const page = await browser('phone');
    await page.goto(`${server.url}/portal/signin`);
    const order: string[] = [];
    for (let i = 0; i < 4; i++) {
      await page.keyboard.press('Tab');
      order.push(await page.evaluate<string>(FOCUSED));
    }
    expect(order).toEqual([
      'a:Skip to main content',
      'input#user:',
      'input#code:',
      'button:Sign in',
    ]);
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.type('nobody');
    await page.keyboard.press('Tab');
    await page.keyboard.type('123456');
    await page.keyboard.press('Enter');
    await page.waitForLoadState();
    await expect(page.getByRole('alert').textContent()).resolves.toContain(
      'The user name or the code is not right.',
    );
    // After the error the code field is marked invalid and has the focus again.
    await expect(page.evaluate<string>(FOCUSED)).resolves.toBe('input#code:');
    await expect(page.locator('#code').getAttribute('aria-invalid')).resolves.toBe('true');
  });

  it('shows the too-many-attempts page after the policy maximum', async () => {
    await ctl(['user', 'add', 'rita']);
    const page = await browser('desktop');
    await page.goto(`${server.url}/portal/signin`);
    for (let i = 0; i < 5; i++) {
      await page.getByLabel('User name').fill('rita');
      await page.getByLabel('Code', { exact: true }).fill('123456');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForLoadState();
      if (i < 4) {
        await expect(page.getByRole('alert').textContent()).resolves.toContain(`${4 - i} attempt`);
      }
    }
    await expect(page.locator('h1').textContent()).resolves.toBe('Too many attempts');
    await shot(page, 'locked');
  });

  it('a link clicked on another site still works (Start setup page, strict cookie kept)', async () => {
    await ctl(['user', 'add', 'sam']);
    const { link } = (await ctl(['user', 'enroll', 'sam'])) as { link: string };
    secrets.push(link.split('/').pop() as string);
    // "Webmail" on another site (localhost is not the same site as 127.0.0.1).
    const mail = http.createServer((_req, res) => {
      res.setHeader('content-type', 'text/html');
      res.end(`<!doctype html><a id="go" href="${link}">Set up idv</a>`);
    });
    await new Promise<void>((r) => mail.listen(0, '127.0.0.1', r));
    try {
      const port = (mail.address() as AddressInfo).port;
      const page = await browser('phone');
      await page.goto(`http://localhost:${port}/`);
      await page.click('#go');
      await page.waitForURL(link);
      await shot(page, 'continue');
      await page.getByRole('button', { name: 'Start setup' }).click();
      await page.waitForURL(`${server.url}/portal/enroll`);
      await expect(page.locator('#secret').isVisible()).resolves.toBe(true);
    } finally {
      mail.close();
    }
  });

  it('never wrote a secret, a code or a token to the server or agent log', () => {
    expect(secrets.length).toBeGreaterThan(25);
    const logs = server.logs() + agent.logs();
    for (const s of secrets) expect(logs).not.toContain(s);
  });
});
