// The dashboard of a real `settle dev` (startDev over the examples and a ledger that can be closed), in headless
// Chromium (Debian's chromium through playwright-core): the approval's diagram with both sign-off regions and its
// fleet counts, an approval driven from the UI's Send form with the lit state moving, a change made elsewhere
// appearing without a reload, and a dead letter seen with its reason and redriven from the UI.
// Screenshots of the machine and instance views go to <tmp>/settle-dashboard-screenshots/.
import { mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevSession, startDev } from '../../cli/dev.ts';
import type { SettleClient } from '../../client/settle-client.ts';
import { type Chromium, launchChromium, requireChromium } from './chromium.ts';
import { setLedgerClosed } from './registry.ts';

const screenshots = join(tmpdir(), 'settle-dashboard-screenshots');
const pngSignature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

describe('the dashboard of settle dev, in Chromium', () => {
  let session: DevSession;
  let client: SettleClient;
  let browser: Chromium;
  let page: Page;
  let url: string;
  const pageErrors: Error[] = [];

  beforeAll(async () => {
    requireChromium();
    session = await startDev(
      { registry: join(import.meta.dirname, 'registry.ts'), sqsPort: 0, dynamodbPort: 0, apiPort: 0, dynamodbLocal: false, watch: false },
      () => undefined,
    );
    const { stack } = session;
    if (!stack.api) throw new Error('settle dev started without its HTTP API');
    url = stack.api.url;
    client = stack.client(session.registry());
    browser = await launchChromium({ width: 1400, height: 1000 });
    page = browser.page;
    page.on('pageerror', (error) => pageErrors.push(error));
    mkdirSync(screenshots, { recursive: true });
  });

  afterAll(async () => {
    setLedgerClosed(false);
    await browser?.close();
    await session?.stop();
    expect(pageErrors).toEqual([]);
  });

  const active = (path: string) => page.locator(`[data-state="${path}"][data-active="true"]`);
  const shoot = async (name: string) => {
    const path = join(screenshots, `${name}.png`);
    await page.screenshot({ path, fullPage: true });
    expect(readFileSync(path).subarray(0, 8)).toEqual(pngSignature);
  };

  it('shows the approval machine with both sign-off regions, and how many wait in each', async () => {
    // Arrange
    await client.sendAndWait('approval', 'doc-fleet-1', { type: 'SUBMIT', by: 'eve' });
    await client.sendAndWait('approval', 'doc-fleet-2', { type: 'SUBMIT', by: 'eve' });

    // Act
    await page.goto(`${url}/`);

    // Assess
    const approval = page.getByRole('article').filter({ has: page.getByRole('heading', { name: 'approval v1' }) });
    await approval.locator('[data-state="review.legal"]').waitFor();
    expect(await approval.locator('[data-state="review.finance"]').count()).toBe(1);
    const waiting = approval.locator('tr[data-count-state="review.legal.pending"] td').first();
    await expect.poll(async () => Number(await waiting.textContent()), { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    expect(await page.getByRole('heading', { name: 'ledger v1' }).count()).toBe(1);
  });

  it('drives an approval from the Send form and shows the lit state move; a change made elsewhere appears without a reload', async () => {
    // Arrange: to the machine, then a new instance by its id
    await page.goto(`${url}/#/`);
    await page.getByRole('link', { name: 'approval', exact: true }).click();
    await page.getByRole('heading', { name: 'Machine approval' }).waitFor();
    await page.getByLabel(/Open an instance by id/).fill('doc-ui');
    await page.getByRole('button', { name: 'Open' }).click();
    await page.getByText('approval/doc-ui does not exist yet').waitFor();

    // Act: SUBMIT
    await page.getByLabel('Event type').selectOption('SUBMIT');
    await page.getByLabel('Other fields (a JSON object)').fill('{ "by": "eve" }');
    await page.getByRole('button', { name: 'Send SUBMIT' }).click();

    // Assess
    await active('review.legal.pending').waitFor({ timeout: 15_000 });
    await active('review.finance.pending').waitFor();
    await expect
      .poll(() => page.getByLabel('Event type').locator('option').allTextContents())
      .toEqual(expect.arrayContaining(['APPROVE', 'REJECT']));

    // Act: legal approves
    await page.getByLabel('Event type').selectOption('APPROVE');
    await page.getByLabel('Other fields (a JSON object)').fill('{ "role": "legal", "by": "ana" }');
    await page.getByRole('button', { name: 'Send APPROVE' }).click();

    // Assess
    await active('review.legal.signed').waitFor({ timeout: 15_000 });
    await expect
      .poll(() => page.getByTestId('send-result').textContent())
      .toMatch(/^APPROVE → resolve \(event \d+\): review\.legal\.signed, review\.finance\.pending$/);
    expect(await active('review.legal.pending').count()).toBe(0);
    expect(await active('review.finance.pending').count()).toBe(1);
    expect(JSON.parse((await page.getByTestId('context').textContent()) ?? '{}')).toMatchObject({ approvals: { legal: 'ana' } });
    const history = page.getByTestId('history').locator('li');
    expect(await history.nth(0).textContent()).toContain('APPROVE');
    expect(await history.nth(1).textContent()).toContain('SUBMIT');
    await shoot('instance');

    // Act: finance approves through the SDK, not the page
    await client.sendAndWait('approval', 'doc-ui', { type: 'APPROVE', role: 'finance', by: 'bo' });

    // Assess: the page follows within its refresh
    await active('approved').waitFor({ timeout: 10_000 });
    expect(await page.getByTestId('instance-states').textContent()).toBe('approved');
  });

  it('lists the machine’s instances; a state chosen in the diagram filters them', async () => {
    // Arrange
    await client.sendAndWait('approval', 'doc-list', { type: 'SUBMIT', by: 'eve' });
    await page.goto(`${url}/#/machine/approval`);
    const list = page.getByTestId('instance-list');
    await list.locator('tr[data-key="approval/doc-list"]').waitFor();

    // Act
    await page.locator('.diagram [data-state="approved"]').click();

    // Assess
    await expect.poll(() => page.evaluate('location.hash')).toBe('#/machine/approval?state=approved');
    await list.locator('tr[data-key="approval/doc-ui"]').waitFor();
    expect(await list.locator('tr[data-key="approval/doc-list"]').count()).toBe(0);
    await page.locator('.diagram [data-state="review.legal"]').click();
    await list.locator('tr[data-key="approval/doc-list"]').waitFor();
    await shoot('machine');
  });

  it('shows a dead letter with its reason, and redrives it from the page to an instance that then takes it', async () => {
    // Arrange: the ledger is closed; an event sent through the SDK fails and is dead-lettered
    setLedgerClosed(true);
    const failed = await client.sendAndWait('ledger', 'l-1', { type: 'BOOK', amount: 5 });
    expect(failed.outcome).toBe('dead-lettered');
    setLedgerClosed(false);

    // Act
    await page.goto(`${url}/#/dead-letters`);

    // Assess
    const row = page.getByTestId('dead-letters').locator('tr').filter({ hasText: 'ledger/l-1' });
    await row.waitFor({ timeout: 10_000 });
    expect(await row.textContent()).toContain('machine-error');
    expect(await row.textContent()).toContain('the ledger is closed for the night');

    // Act
    await row.getByRole('button', { name: 'Redrive' }).click();

    // Assess
    await expect
      .poll(() => page.getByRole('status').first().textContent(), { timeout: 15_000 })
      .toMatch(/^redriven ledger\/l-1: sent again as \d+$/);
    await row.waitFor({ state: 'detached', timeout: 10_000 });
    await page.goto(`${url}/#/instance/ledger/l-1`);
    const history = page.getByTestId('history').locator('li');
    await expect.poll(() => history.nth(0).textContent(), { timeout: 10_000 }).toMatch(/^BOOK resolve .*redrive of letter /);
    expect(await history.nth(1).textContent()).toMatch(/machine-error Machine 'ledger' threw Error: the ledger is closed for the night/);
    expect(JSON.parse((await page.getByTestId('context').textContent()) ?? '{}')).toEqual({ entries: 1, total: 5 });
  });
});
