/**
 * Test helper: Debian's chromium through playwright-core, one fresh profile per page, and
 * full-page screenshots at several viewports into tests/artifacts/.
 *
 *   const page = await openPage({ width: 1366, height: 900 });
 *   await screenshots(page, 'console-overview', VIEWPORTS);   // console-overview-phone.png, ...
 *   afterAll(closePages);
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const ARTIFACTS = resolve(import.meta.dirname, '..', 'artifacts');

export interface Size {
  width: number;
  height: number;
}

const open: { context: BrowserContext; dir: string }[] = [];

/** A page in a new browser with its own user data dir (cookies and storage start empty). */
export async function openPage(
  viewport: Size,
  options: { acceptDownloads?: boolean } = {},
): Promise<Page> {
  const dir = mkdtempSync(join(tmpdir(), 'idv-chromium-'));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
    viewport,
    ...options,
  });
  open.push({ context, dir });
  return context.pages()[0] ?? context.newPage();
}

/** Closes every browser openPage started, and removes their profiles. */
export async function closePages(): Promise<void> {
  for (const { context, dir } of open.splice(0)) {
    await context.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `NAME-VIEWPORT.png` for each viewport, in order; the page is left at the last one. */
export async function screenshots(
  page: Page,
  name: string,
  viewports: Record<string, Size>,
): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  for (const [v, size] of Object.entries(viewports)) {
    await page.setViewportSize(size);
    await page.screenshot({ path: join(ARTIFACTS, `${name}-${v}.png`), fullPage: true });
  }
}
