/**
 * The admin console as a new admin meets it (issue 24), in Debian's chromium against a real
 * idv-server: a policy form that keeps what was typed when one field is wrong, the overview's
 * locked users with an unlock button, the events page's seconds, one time zone and exports,
 * the users and devices pages' next steps, and the admins page's remove, role and tokens.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TotpParams } from '../../protocol/messages.js';
import {
  addEnrolledUser,
  askAgent,
  begin,
  startAgent,
  waitFor,
  type TestAgent,
} from '../helpers/agent.js';
import { closePages, openPage, screenshots } from '../helpers/browser.js';
import { consoleWorld, type ConsoleWorld } from '../helpers/console.js';
import { missing } from '../helpers/require.js';

const skip = missing({ commands: ['chromium'] });
const VIEWPORTS = { phone: { width: 360, height: 780 }, laptop: { width: 1366, height: 900 } };

describe.skipIf(skip)('the console as a new admin meets it', () => {
  let w: ConsoleWorld;
  let ada: Page;
  let adaTotp: TotpParams;
  let agent: TestAgent;
  const srv = () => ({ url: w.url, adminToken: w.adminToken });

  beforeAll(async () => {
    w = await consoleWorld('ada');
    agent = await startAgent({
      server: srv(),
      name: 'web1',
      policy: { maxAttempts: 3, lockoutSeconds: 900 },
    });
    await addEnrolledUser(srv(), 'carol', ['ops']);
    await w.ctl(['user', 'add', 'dan', '--group', 'dev']);
    ada = await openPage(VIEWPORTS.laptop);
    adaTotp = await w.setUp(ada, w.setupLink);
    await w.signIn(ada, 'ada', adaTotp);
  }, 120_000);

  afterAll(async () => {
    await closePages();
    await agent?.stop();
    await w?.stop();
  });

  it('the bare address and a page path with a trailing slash lead to the console, not JSON', async () => {
    const root = await ada.goto(`${w.url}/`);
    expect(ada.url()).toBe(`${w.url}/admin`);
    expect(root?.headers()['content-type']).toContain('text/html');
    await ada.goto(`${w.url}/admin/`);
    expect(ada.url()).toBe(`${w.url}/admin`);
    await ada.goto(`${w.url}/admin/users/?q=car`);
    expect(ada.url()).toBe(`${w.url}/admin/users?q=car`);
    await expect(ada.locator('h1').textContent()).resolves.toBe('Users');
  });

  it('overview: a locked user with until and an unlock button; the chart fills its card with a scale', async () => {
    for (let i = 0; i < 3; i++)
      await askAgent(agent.socket, [begin('carol', 'sshd'), { type: 'verify', code: '000000' }]);
    let at = '';
    await waitFor(async () => {
      const r = (await w.ctl(['events', '--user', 'carol'])).events as Record<string, string>[];
      at = r.find((e) => e.outcome === 'locked')?.at ?? '';
      return at !== '';
    }, 'the lockout event at the server');
    await ada.goto(`${w.url}/admin`);
    const row = ada.locator('[aria-labelledby=locked] tbody tr').filter({ hasText: 'carol' });
    const until = new Date(Date.parse(at) + 900_000).toISOString().slice(0, 16).replace('T', ' ');
    await expect(row.textContent()).resolves.toContain(until);
    await expect(ada.locator('[aria-labelledby=locked] thead').textContent()).resolves.toContain(
      'Until',
    );
    // The chart: as wide as its card, with a scale of round numbers from 0.
    const widths = await ada
      .locator('.chart svg')
      .evaluate((svg) => [
        svg.getBoundingClientRect().width,
        svg.closest('.card')?.clientWidth ?? 0,
      ]);
    expect(widths[0]).toBeGreaterThan(0.85 * (widths[1] ?? 0));
    const ticks = await ada.locator('.chart .ticks span').allTextContents();
    expect(ticks.at(-1)).toBe('0');
    expect(Number(ticks[0])).toBeGreaterThanOrEqual(3);
    await screenshots(ada, 'console-overview-locked', VIEWPORTS);
    await ada.setViewportSize(VIEWPORTS.laptop);
    await row.getByRole('button', { name: 'Unlock carol on web1' }).click();
    await ada.waitForURL(`${w.url}/admin`);
    await expect(ada.locator('#alert').textContent()).resolves.toContain('carol unlocked');
    await expect(ada.locator('[aria-labelledby=locked]').textContent()).resolves.toContain(
      'Nobody is locked out',
    );
    await waitFor(async () => {
      const [r] = await askAgent(agent.socket, [begin('carol', 'sshd')]);
      return r?.type === 'prompt' && r.message === undefined;
    }, 'the agent to take the unlock');
  }, 120_000);

  it('policy: one wrong field keeps every value typed, marks that field and names it in words', async () => {
    await ada.goto(`${w.url}/admin/policy`);
    // Every on/off field is a choice, like the others; hints speak of an empty field, not ''.
    await expect(ada.locator('#p-self-unlock').evaluate((e) => e.tagName)).resolves.toBe('SELECT');
    const hints = (await ada.locator('.policy-fields .hint').allTextContents()).join('\n');
    expect(hints).not.toContain("''");
    expect(hints).toContain('empty = every user');
    await ada.getByLabel('maxAttempts').fill('7');
    await ada.getByLabel('userGroups').fill('ops, dev');
    await ada.getByLabel('lockoutSeconds').fill('soon');
    await ada.getByLabel('selfUnlock').selectOption('off');
    const [res] = await Promise.all([
      ada.waitForResponse((r) => r.request().method() === 'POST'),
      ada.getByRole('button', { name: /Save and push/ }).click(),
    ]);
    expect(res.status()).toBe(400);
    const alert = (await ada.locator('#alert').textContent()) ?? '';
    expect(alert).toContain('Nothing was saved');
    expect(alert).toContain('Lockout');
    expect(alert).not.toContain('lockoutSeconds');
    await expect(ada.getByLabel('lockoutSeconds').getAttribute('aria-invalid')).resolves.toBe(
      'true',
    );
    await expect(ada.getByLabel('lockoutSeconds').inputValue()).resolves.toBe('soon');
    await expect(ada.locator('.field.invalid .field-error').textContent()).resolves.toMatch(
      /^Must be a duration/,
    );
    await expect(ada.getByLabel('maxAttempts').inputValue()).resolves.toBe('7');
    await expect(ada.getByLabel('userGroups').inputValue()).resolves.toBe('ops, dev');
    await expect(ada.getByLabel('selfUnlock').inputValue()).resolves.toBe('off');
    await expect(ada.getByLabel('maxAttempts').getAttribute('aria-invalid')).resolves.toBeNull();
    await screenshots(ada, 'console-policy-refused', VIEWPORTS);
    await ada.setViewportSize(VIEWPORTS.laptop);
    // Nothing stored.
    const before = (await w.ctl(['policy', 'show'])).policy as Record<string, unknown>;
    expect(before.maxAttempts).toBe(3);
    expect(before.selfUnlock).toBe(true);
    // Corrected, the same form saves every change at once.
    await ada.getByLabel('lockoutSeconds').fill('30m');
    await ada.getByRole('button', { name: /Save and push/ }).click();
    await ada.waitForURL(/\/admin\/policy\?group=default&revision=\d+/);
    await expect(ada.locator('#alert').textContent()).resolves.toContain('Lockout');
    const after = (await w.ctl(['policy', 'show'])).policy as Record<string, unknown>;
    expect(after).toMatchObject({
      maxAttempts: 7,
      lockoutSeconds: 1800,
      userGroups: ['ops', 'dev'],
      selfUnlock: false,
    });
  }, 120_000);

  it('events: seconds and UTC everywhere, a grace skip not shown as a success, the filtered view as CSV and JSON', async () => {
    // dan is not enrolled: let through under the enrollment grace, no code asked ("skip").
    const [skip] = await askAgent(agent.socket, [begin('dan', 'sshd')]);
    expect(skip?.type).toBe('skip');
    await waitFor(async () => {
      const r = (await w.ctl(['events', '--user', 'dan'])).events as unknown[];
      return r.length > 0;
    }, 'the skip event at the server');
    await ada.goto(`${w.url}/admin/events`);
    const cells = await ada.locator('tbody td.when').allTextContents();
    expect(cells.length).toBeGreaterThan(3);
    for (const t of cells) expect(t).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
    const badge = ada.locator('tbody tr').filter({ hasText: 'dan' }).locator('.badge').first();
    await expect(badge.textContent()).resolves.toBe('skip');
    await expect(badge.getAttribute('class')).resolves.not.toMatch(/\bok\b/);
    // A new event while the page is open: its row and the banner both in UTC, to the second.
    await askAgent(agent.socket, [begin('carol', 'sshd'), { type: 'verify', code: '000000' }]);
    const banner = ada.locator('[data-live-status]');
    await banner.filter({ hasText: /the latest at/ }).waitFor({ timeout: 60_000 });
    expect(await banner.textContent()).toMatch(/\d\d:\d\d:\d\d UTC\.$/);
    expect(await banner.textContent()).not.toMatch(/AM|PM/);
    await expect(ada.locator('tbody td.when').first().textContent()).resolves.toMatch(
      /\d\d:\d\d:\d\d UTC$/,
    );
    await screenshots(ada, 'console-events-utc', VIEWPORTS);
    await ada.setViewportSize(VIEWPORTS.laptop);
    // Filtered to carol's wrong codes: the downloads hold exactly what the table shows.
    await ada.goto(`${w.url}/admin/events?user=carol&outcome=invalid`);
    const shown = await ada.locator('tbody tr').count();
    expect(shown).toBeGreaterThan(1);
    const csvHref = await ada.getByRole('link', { name: 'CSV' }).getAttribute('href');
    const csv = await ada.request.get(`${w.url}${csvHref ?? ''}`);
    expect(csv.status()).toBe(200);
    expect(csv.headers()['content-type']).toContain('text/csv');
    expect(csv.headers()['content-disposition']).toContain('attachment');
    const lines = (await csv.text()).trim().split('\r\n');
    expect(lines[0]).toBe(
      'seq,at,device,deviceName,user,service,outcome,reason,rhost,tty,afterRevocation',
    );
    expect(lines).toHaveLength(shown + 1);
    for (const l of lines.slice(1)) expect(l).toMatch(/,carol,sshd,invalid,/);
    const jsonHref = await ada.getByRole('link', { name: 'JSON' }).getAttribute('href');
    const json = (await (await ada.request.get(`${w.url}${jsonHref ?? ''}`)).json()) as {
      events: { user: string; outcome: string }[];
    };
    expect(json.events).toHaveLength(shown);
    expect(new Set(json.events.map((e) => `${e.user} ${e.outcome}`))).toEqual(
      new Set(['carol invalid']),
    );
    // Without a session: no events.
    const anon = await fetch(`${w.url}${csvHref ?? ''}`);
    expect(anon.status).toBe(401);
  }, 120_000);

  it('audit: a change shows the value it replaced and the new one', async () => {
    await ada.goto(`${w.url}/admin/audit?action=policy.set`);
    const row = ada.locator('tbody tr').filter({ hasText: 'admin:ada' }).first();
    const changed = (await row.locator('td[data-label="What changed"]').textContent()) ?? '';
    expect(changed).toContain('maxAttempts: 3 → 7');
    expect(changed).toContain('lockoutSeconds: 900 → 1800');
    expect(changed).toContain('userGroups: (none) → ops,dev');
    await ada.goto(`${w.url}/admin/users?user=dan`);
    await ada.locator('#groups').fill('dev, lab');
    await ada.getByRole('button', { name: 'Save groups' }).click();
    await ada.goto(`${w.url}/admin/audit?action=user.groups`);
    await expect(
      ada.locator('tbody tr').first().locator('td[data-label="What changed"]').textContent(),
    ).resolves.toBe('groups: dev → dev,lab');
  }, 120_000);

  it('users: after Add the enrollment link; the grace deadline in the list; remove a user', async () => {
    await ada.goto(`${w.url}/admin/users`);
    await ada.getByLabel('Login name').fill('erin');
    await ada.getByRole('button', { name: /Add user/ }).click();
    await expect(ada.locator('h1').textContent()).resolves.toBe('Enrollment link for erin');
    await expect(ada.locator('main').textContent()).resolves.toContain('Added erin');
    const link = ((await ada.locator('#enroll-link').textContent()) ?? '').trim();
    expect(link).toMatch(new RegExp(`^${w.url}/enroll/`));
    // The list: when the grace of a user not enrolled runs out (7 days from the add).
    await ada.goto(`${w.url}/admin/users`);
    const row = ada.locator('[aria-labelledby=list-h] tbody tr').filter({ hasText: 'dan' });
    const shown = (await w.ctl(['user', 'show', 'dan'])) as { graceStartedAt: string };
    const ends = new Date(Date.parse(shown.graceStartedAt) + 7 * 86_400_000);
    await expect(row.textContent()).resolves.toContain(
      `grace until ${ends.toISOString().slice(0, 19).replace('T', ' ')} UTC`,
    );
    // Remove, confirmed: gone from the list and the server; audited.
    await ada.goto(`${w.url}/admin/users?user=erin`);
    await ada.getByText('Remove erin…').click();
    await ada.getByLabel('Remove erin', { exact: true }).check();
    await ada.getByRole('button', { name: 'Remove the user' }).click();
    await ada.waitForURL(`${w.url}/admin/users`);
    await expect(ada.locator('#alert').textContent()).resolves.toContain('Removed erin');
    const users = (await w.ctl(['user', 'list'])).users as { name: string }[];
    expect(users.map((u) => u.name)).not.toContain('erin');
    const audit = (await w.ctl(['audit', '--limit', '5'])).entries as Record<string, string>[];
    expect(audit).toContainEqual(
      expect.objectContaining({ actor: 'admin:ada', target: 'erin', result: 'ok' }),
    );
  }, 120_000);

  it("devices: the register command names this server's address", async () => {
    await ada.goto(`${w.url}/admin/devices`);
    await expect(ada.locator('[aria-labelledby=token-h] code.cmd').textContent()).resolves.toBe(
      `idv-agent register --server ${w.url} --token-file FILE`,
    );
  });

  it('admins: a role changed and an admin removed take effect at once; the last admin stays', async () => {
    const r = await w.ctl(['admin', 'add', 'hal', '--role', 'helpdesk']);
    const hal = await openPage(VIEWPORTS.laptop);
    const halTotp = await w.setUp(hal, String(r.link));
    await w.signIn(hal, 'hal', halTotp);
    expect((await hal.goto(`${w.url}/admin/audit`))?.status()).toBe(403);
    // The role, changed in the page: hal's very next request may open the audit log.
    await ada.goto(`${w.url}/admin/admins`);
    await ada.getByLabel('Role of hal').selectOption('admin');
    await ada.getByRole('button', { name: 'Set role of hal' }).click();
    await expect(ada.locator('#alert').textContent()).resolves.toContain(
      'hal now has the role admin',
    );
    expect((await hal.goto(`${w.url}/admin/audit`))?.status()).toBe(200);
    // Removed (confirmed) while signed in.
    await ada.getByText('Remove hal…').click();
    await ada.getByLabel('Remove admin hal').check();
    await ada.getByRole('button', { name: 'Remove hal', exact: true }).click();
    await expect(ada.locator('#alert').textContent()).resolves.toMatch(
      /Removed hal; 1 session ended/,
    );
    // hal's session ended with the account: the next page is the sign-in.
    await hal.goto(`${w.url}/admin/users`);
    expect(hal.url()).toBe(`${w.url}/admin/signin`);
    const list = (await w.ctl(['admin', 'list'])).admins as { name: string }[];
    expect(list.map((a) => a.name)).toEqual(['ada']);
    // ada is the last active admin: not demoted, with the reason.
    await ada.goto(`${w.url}/admin/admins`);
    await ada.getByLabel('Role of ada').selectOption('helpdesk');
    const [res] = await Promise.all([
      ada.waitForResponse((x) => x.request().method() === 'POST'),
      ada.getByRole('button', { name: 'Set role of ada' }).click(),
    ]);
    expect(res.status()).toBe(409);
    await expect(ada.locator('#alert').textContent()).resolves.toContain('last active admin');
    const after = (await w.ctl(['admin', 'list'])).admins as { name: string; role: string }[];
    expect(after).toEqual([expect.objectContaining({ name: 'ada', role: 'admin' })]);
    await expect(ada.getByRole('button', { name: /Remove ada/ }).count()).resolves.toBe(0);
    // Audited, with the role replaced.
    const audit = (await w.ctl(['audit', '--limit', '10'])).entries as Record<string, unknown>[];
    expect(audit).toContainEqual(
      expect.objectContaining({
        action: 'admin.role',
        target: 'hal',
        detail: { role: 'admin', was: { role: 'helpdesk' } },
        result: 'ok',
      }),
    );
    expect(audit).toContainEqual(
      expect.objectContaining({ action: 'admin.remove', target: 'hal', result: 'ok' }),
    );
    expect(audit).toContainEqual(
      expect.objectContaining({ action: 'admin.role', target: 'ada', result: 'LAST_ADMIN' }),
    );
  }, 120_000);
});
