/**
 * The admin console as a new admin meets it (issue 24), in Debian's chromium against a real
 * idv-server: a policy form that keeps what was typed when one field is wrong, the overview's
 * locked users with an unlock button, the events page's seconds, one time zone and exports,
 * the users and devices pages' next steps, and the admins page's remove, role and tokens.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TotpParams } from '../../protocol/messages.js';
import { closePages, openPage, screenshots } from '../helpers/browser.js';
import { consoleWorld, type ConsoleWorld } from '../helpers/console.js';
import { missing } from '../helpers/require.js';

const skip = missing({ commands: ['chromium'] });
const VIEWPORTS = { phone: { width: 360, height: 780 }, laptop: { width: 1366, height: 900 } };

describe.skipIf(skip)('the console as a new admin meets it', () => {
  let w: ConsoleWorld;
  let ada: Page;
  let adaTotp: TotpParams;

  beforeAll(async () => {
    w = await consoleWorld('ada');
    ada = await openPage(VIEWPORTS.laptop);
    adaTotp = await w.setUp(ada, w.setupLink);
    await w.signIn(ada, 'ada', adaTotp);
  }, 120_000);

  afterAll(async () => {
    await closePages();
    await w?.stop();
  });

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
    expect(before.maxAttempts).toBe(5);
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
});
