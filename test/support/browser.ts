// Headless Chromium (Debian's, driven by playwright-core) for the browser tests, each with its
// own empty profile, nothing allowed off this machine, and a list of what went wrong on the page.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { ROOT } from './jarvis.ts';

const CHROMIUM = process.env.JARVIS_CHROMIUM ?? '/usr/bin/chromium';
export const OUTPUT = join(ROOT, 'test-output');

export async function openBrowser(cleanups: Array<() => Promise<unknown>>, viewport = { width: 1400, height: 900 }): Promise<BrowserContext> {
  const profile = mkdtempSync(join(tmpdir(), 'jarvis-chromium-'));
  cleanups.push(async () => rmSync(profile, { recursive: true, force: true }));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport,
  });
  cleanups.push(() => context.close());
  await context.route(/^(?!https?:\/\/(127\.0\.0\.1|localhost)[:/])/, (route) => route.abort());
  return context;
}

/** The context's first page, with page errors and 5xx answers collected in `problems`. */
export async function watchedPage(context: BrowserContext, base: string): Promise<{ page: Page; problems: string[] }> {
  const page = context.pages()[0] ?? (await context.newPage());
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('response', (res) => {
    if (res.url().startsWith(base) && res.status() >= 500) problems.push(`${res.status()} ${res.url()}`);
  });
  return { page, problems };
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(OUTPUT, { recursive: true });
  await page.screenshot({ path: join(OUTPUT, `${name}.png`), fullPage: true });
}
