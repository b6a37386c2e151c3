/**
 * Test helper: a real idv-server in this process (its clock movable) with its first console admin,
 * and the browser steps every console test needs: set-up from a link, sign-in with password and
 * code, idvctl as the admin token.
 *
 *   const w = await consoleWorld('ada');
 *   const page = await openPage(...);
 *   const totp = await w.setUp(page, w.setupLink);
 *   await w.signIn(page, 'ada', totp);
 *   afterAll(() => w.stop());
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import type { TotpParams } from '../../protocol/messages.js';
import { generateCode } from '../../protocol/totp.js';
import { loadConfig } from '../../server/config.js';
import { initDataDir } from '../../server/datadir.js';
import { startServer, type RunningServer } from '../../server/serve.js';
import { idvctl } from './server.js';

export const CONSOLE_PASSWORD = 'grey heron over the quiet lake';

export interface ConsoleWorld {
  server: RunningServer;
  url: string;
  adminToken: string;
  /** The first admin's one-time set-up link. */
  setupLink: string;
  base: string;
  /** The server's clock. */
  now(): number;
  /** Moves the server's clock on. */
  advance(ms: number): void;
  /** A code for a fresh time step (the clock moves on 30 s first: each step is taken once). */
  nextCode(totp: TotpParams): string;
  /** idvctl as the admin token; throws on a non-zero exit. */
  ctl(args: string[]): Promise<Record<string, unknown>>;
  setUp(page: Page, link: string): Promise<TotpParams>;
  signIn(page: Page, name: string, totp: TotpParams): Promise<void>;
  stop(): Promise<void>;
}

export async function consoleWorld(firstAdmin = 'ada'): Promise<ConsoleWorld> {
  const base = mkdtempSync(join(tmpdir(), 'idv-console-'));
  const dataDir = join(base, 'data');
  const { token: adminToken, setupToken } = await initDataDir(dataDir, Date.now(), {
    firstAdmin,
  });
  let offset = 0;
  const now = () => Date.now() + offset;
  const config = loadConfig({ env: {}, flags: { dataDir, listen: '127.0.0.1:0' } });
  const server = await startServer(config, { clock: now });
  const url = server.url;
  const nextCode = (totp: TotpParams) => {
    offset += 30_000;
    return generateCode(totp, now());
  };
  return {
    server,
    url,
    adminToken,
    setupLink: `${url}/admin/setup/${setupToken}`,
    base,
    now,
    advance: (ms) => {
      offset += ms;
    },
    nextCode,
    ctl: async (args) => {
      const r = await idvctl({ url, adminToken }, args);
      if (r.code !== 0) throw new Error(`idvctl ${args.join(' ')}: ${r.stdout}${r.stderr}`);
      return r.json as Record<string, unknown>;
    },
    setUp: async (page, link) => {
      await page.goto(link);
      await page.getByRole('button', { name: 'Start set-up' }).click();
      await page.waitForURL(`${url}/admin/setup`);
      const secret = ((await page.locator('#secret').textContent()) ?? '').replace(/\s/g, '');
      const totp: TotpParams = { secret, algorithm: 'SHA1', digits: 6, period: 30 };
      await page.getByLabel('New password').fill(CONSOLE_PASSWORD);
      await page.getByLabel('The same password again').fill(CONSOLE_PASSWORD);
      await page.getByLabel('6-digit code').fill(nextCode(totp));
      await page.getByRole('button', { name: 'Finish set-up' }).click();
      await page.locator('#recovery-codes').waitFor();
      return totp;
    },
    signIn: async (page, name, totp) => {
      await page.goto(`${url}/admin/signin`);
      await page.getByLabel('Admin name').fill(name);
      await page.getByLabel('Password').fill(CONSOLE_PASSWORD);
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.waitForURL(`${url}/admin/signin/code`);
      await page.getByLabel('Code').fill(nextCode(totp));
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL(`${url}/admin`);
    },
    stop: async () => {
      await server.stop();
      rmSync(base, { recursive: true, force: true });
    },
  };
}
