/**
 * `npm run screenshots`: the dashboard's machine view and instance view as PNGs for the docs, from a fresh local
 * stack (`settle dev` over machines/, on free ports, in memory) with sample data (test/dashboard/sample.ts), in
 * headless Chromium (Debian's chromium). Writes docs/screenshots/machine.png and docs/screenshots/instance.png.
 *
 *   npm run screenshots [-- --out <folder>]
 */
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Page } from 'playwright-core';
import { startDev } from '../cli/dev.ts';
import { launchChromium } from '../test/dashboard/chromium.ts';
import { sampleInstance, seedSample } from '../test/dashboard/sample.ts';

const repository = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { out: { type: 'string' } } });
const out = resolve(values.out ?? join(repository, 'docs', 'screenshots'));

/** Waits for the view's data, then until every refresh in flight has landed, so the picture is whole. */
async function settled(page: Page, selectors: readonly string[]): Promise<void> {
  for (const selector of selectors) await page.locator(selector).first().waitFor({ timeout: 30_000 });
  await page.waitForLoadState('networkidle', { timeout: 30_000 }).catch(() => undefined);
}

const started = Date.now();
const session = await startDev(
  { registry: join(repository, 'machines', 'index.ts'), sqsPort: 0, dynamodbPort: 0, apiPort: 0, dynamodbLocal: false, watch: false },
  () => undefined,
);
// As `settle dev` does: the machines' callbackUrl (the approval's sign-off links) reads the API's URL and key from it.
Object.assign(process.env, session.stack.env);
const browser = await launchChromium({ width: 1280, height: 900 });
try {
  const url = session.stack.api?.url;
  if (!url) throw new Error('settle dev started without its HTTP API, so without the dashboard');
  await seedSample(session.stack, session.registry());
  mkdirSync(out, { recursive: true });
  const { page } = browser;

  await page.goto(`${url}/#/machine/approval?state=review`);
  await settled(page, ['[data-state="review.legal"]', '[data-testid="instance-list"] tbody tr', '[data-testid="fleet-total"]']);
  await page.screenshot({ path: join(out, 'machine.png'), fullPage: true });

  await page.goto(`${url}/#/instance/${sampleInstance}`);
  await settled(page, ['[data-state="review.legal.signed"][data-active="true"]', '[data-testid="dead-letters"] tbody tr']);
  await page.screenshot({ path: join(out, 'instance.png'), fullPage: true });

  console.log(`Wrote ${join(out, 'machine.png')} and ${join(out, 'instance.png')} in ${((Date.now() - started) / 1000).toFixed(1)} s.`);
} finally {
  await browser.close();
  await session.stop();
}
