/**
 * Headless Chromium for the dashboard's browser tests, screenshots and render benchmark: Debian's `chromium`
 * package driven by playwright-core (never a browser download of Playwright's own), in a fresh profile.
 *
 * @example
 * const browser = await launchChromium();
 * await browser.page.goto(url);
 * await browser.close();
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';

export const chromiumPath = '/usr/bin/chromium';

export interface Chromium {
  readonly context: BrowserContext;
  /** The context's first tab. */
  readonly page: Page;
  /** Closes the browser and removes its profile. */
  close(): Promise<void>;
}

/** Fails, saying how to install it, when Debian's chromium is not at /usr/bin/chromium. */
export function requireChromium(): void {
  if (!existsSync(chromiumPath)) {
    throw new Error(
      `Chromium is not installed at ${chromiumPath}. The dashboard's browser tests drive Debian's chromium package: ` +
        'install it with `apt-get update && apt-get install -y --no-install-recommends chromium` (as root; .ci/run does this).',
    );
  }
}

export async function launchChromium(options: { readonly width?: number; readonly height?: number } = {}): Promise<Chromium> {
  requireChromium();
  const profile = mkdtempSync(join(tmpdir(), 'settle-chromium-'));
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
      viewport: { width: options.width ?? 1280, height: options.height ?? 900 },
      timeout: 30_000,
    });
    const page = context.pages()[0] ?? (await context.newPage());
    return {
      context,
      page,
      close: async () => {
        await context.close().catch(() => undefined);
        rmSync(profile, { recursive: true, force: true });
      },
    };
  } catch (error) {
    rmSync(profile, { recursive: true, force: true });
    throw error;
  }
}
