// The dashboard app in headless Chromium against a stand-in server answering the JSON contract from fixture
// data (test/dashboard/stand-in.ts): every view, the filters and pages, the Send form, redrive, live updates.
// The acceptance test against a real `settle dev` is test/dashboard/dashboard.test.ts.
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DeadLetterView, InstanceDetail, InstanceSummary } from '../../dashboard/app/contract.ts';
import { type Chromium, launchChromium } from './chromium.ts';
import { approvalPaths, fixtureDiagram, type StandIn, type StandInData, startStandIn, summary } from './stand-in.ts';

const hour = 3600_000;
const ago = (ms: number) => new Date(Date.now() - ms).toISOString();

function letter(id: string, instanceKey: string, code: DeadLetterView['code'], reason: string, body: string): DeadLetterView {
  return {
    messageId: `m-${id}`,
    letterId: id,
    instanceKey,
    sequenceNumber: '10000000000000000007',
    code,
    reason,
    body,
    sentAt: ago(5 * 60_000),
  };
}

function detailOf(states: readonly string[], events: readonly string[]): InstanceDetail {
  return {
    instance: {
      key: 'approval/doc-001',
      machine: 'approval',
      id: 'doc-001',
      machineVersion: 1,
      value: { review: { legal: 'pending', finance: 'pending' } },
      states,
      context: { submittedBy: 'eve', approvals: {}, reminders: 0 },
      tags: ['resolve'],
      status: 'active',
      outcome: 'resolve',
      lastSeq: '10000000000000000009',
      timers: [
        {
          id: 'xstate.after.reminder.approval.review',
          eventType: 'xstate.after.reminder.approval.review',
          fireAt: new Date(Date.now() + 48 * hour).toISOString(),
        },
      ],
      history: [
        { seq: '10000000000000000005', type: 'SUBMIT', outcome: 'resolve', at: ago(2 * hour) },
        {
          seq: '10000000000000000007',
          type: 'APPROVE',
          outcome: 'dead-lettered',
          at: ago(hour),
          error: 'machine-error',
          reason: 'the ledger is closed',
        },
        { seq: '10000000000000000009', type: 'APPROVE', outcome: 'ignored', at: ago(30 * 60_000), redriveOf: 'l-old' },
      ],
      createdAt: ago(3 * hour),
      updatedAt: ago(30 * 60_000),
      version: 4,
    },
    diagram: fixtureDiagram(approvalPaths, { active: states }),
    events,
    deadLetters: [
      letter('l-1', 'approval/doc-001', 'machine-error', 'the ledger is closed', '{"type":"APPROVE","role":"legal","by":"ana"}'),
    ],
  };
}

function fixtures(): StandInData {
  const instances: InstanceSummary[] = Array.from({ length: 120 }, (_, i) =>
    summary(
      `approval/doc-${String(i).padStart(3, '0')}`,
      i % 3 === 0 ? ['draft'] : ['review.legal.pending', 'review.finance.pending'],
      ago((200 - i) * 60_000),
      {
        outcome: i % 10 === 0 ? 'dead-lettered' : 'resolve',
      },
    ),
  );
  const counts = {
    draft: { count: 40, oldestUpdatedAt: ago(200 * 60_000) },
    review: { count: 80, oldestUpdatedAt: ago(199 * 60_000) },
    'review.legal': { count: 80, oldestUpdatedAt: ago(199 * 60_000) },
    'review.legal.pending': { count: 80, oldestUpdatedAt: ago(199 * 60_000) },
    'review.finance': { count: 80, oldestUpdatedAt: ago(199 * 60_000) },
    'review.finance.pending': { count: 80, oldestUpdatedAt: ago(199 * 60_000) },
  };
  const numbers = Object.fromEntries(Object.entries(counts).map(([path, entry]) => [path, entry.count]));
  return {
    machines: [
      { name: 'approval', version: 1, events: ['SUBMIT', 'APPROVE', 'REJECT', 'RESUBMIT'], diagram: fixtureDiagram(approvalPaths) },
      { name: 'counter', version: 2, events: ['COUNT'], diagram: fixtureDiagram(['even', 'odd']) },
    ],
    fleets: {
      approval: { machine: 'approval', total: 120, counts, diagram: fixtureDiagram(approvalPaths, { counts: numbers }) },
      counter: { machine: 'counter', total: 0, counts: {}, diagram: fixtureDiagram(['even', 'odd']) },
    },
    instances,
    details: { 'approval/doc-001': detailOf(['review.legal.pending', 'review.finance.pending'], ['APPROVE', 'REJECT']) },
    deadLetters: {
      letters: [
        letter('l-1', 'approval/doc-001', 'machine-error', 'the ledger is closed', '{"type":"APPROVE","role":"legal","by":"ana"}'),
        letter('l-2', 'counter/c1', 'reserved-type', "Event type 'xstate.init' is reserved", '{"type":"xstate.init"}'),
      ],
      unread: 0,
    },
    send: () => ({ status: 500, body: { code: 'unset', message: 'no answer set' } }),
    redrive: () => ({ status: 500, body: { code: 'unset', message: 'no answer set' } }),
  };
}

describe('dashboard app (stand-in server)', () => {
  let browser: Chromium;
  let stand: StandIn;
  let page: Page;

  beforeAll(async () => {
    browser = await launchChromium();
    stand = await startStandIn(fixtures());
  });
  afterAll(async () => {
    await browser?.close();
    await stand?.stop();
  });
  beforeEach(async () => {
    Object.assign(stand.data, fixtures());
    stand.requests.length = 0;
    stand.down = false;
    page = await browser.context.newPage();
    page.on('pageerror', (error) => {
      throw error;
    });
  });
  afterEach(async () => {
    await page.close();
  });

  const open = async (hash: string) => {
    await page.goto(`${stand.url}/${hash}`);
  };
  const requested = (path: string) => stand.requests.filter((request) => request.path === path);

  it('shows every machine with its diagram, its fleet counts and how long the oldest has waited', async () => {
    // Act
    await open('#/');

    // Assess
    const approval = page.getByRole('article').filter({ has: page.getByRole('heading', { name: 'approval v1' }) });
    await approval.locator('[data-state="review.legal"]').waitFor();
    expect(await approval.locator('[data-state="review.finance"]').count()).toBe(1);
    expect(await approval.getByTestId('fleet-total').textContent()).toBe('120');
    const legal = approval.locator('tr[data-count-state="review.legal.pending"]');
    expect(await legal.locator('td').allTextContents()).toEqual(['80', '3 h 19 min']);
    expect(await page.getByRole('heading', { name: 'counter v2' }).count()).toBe(1);
    expect(await page.title()).toBe('Machines · Settle');
  });

  it('lists a machine’s instances; a state chosen in the diagram, the status and the outcome filter it; pages go on by cursor', async () => {
    // Arrange
    await open('#/machine/approval');
    const rows = page.getByTestId('instance-list').locator('tbody tr');
    await rows.first().waitFor();
    expect(await rows.count()).toBe(50);
    expect(requested('/instances').at(-1)?.query).toEqual({ machine: 'approval', limit: '50' });

    // Act: the state in the diagram
    await page.locator('.diagram [data-state="review.legal"]').click();

    // Assess
    await expect.poll(() => page.evaluate('location.hash')).toBe('#/machine/approval?state=review.legal');
    await expect.poll(() => requested('/instances').at(-1)?.query.state).toBe('review.legal');
    await expect.poll(() => rows.first().getAttribute('data-key')).toBe('approval/doc-001');
    expect(await page.locator('.diagram [data-state="review.legal"]').getAttribute('aria-pressed')).toBe('true');
    expect(await page.getByLabel('State', { exact: true }).inputValue()).toBe('review.legal');

    // Act: status and outcome
    await page.getByLabel('Status').selectOption('active');
    await page.getByLabel('Last outcome').selectOption('dead-lettered');

    // Assess
    await expect
      .poll(() => requested('/instances').at(-1)?.query)
      .toEqual({
        machine: 'approval',
        state: 'review.legal',
        status: 'active',
        outcome: 'dead-lettered',
        limit: '50',
      });
    await expect.poll(() => rows.count()).toBe(8);

    // Act: clear, then page on and back
    await page.getByRole('button', { name: 'Clear filters' }).click();
    await expect.poll(() => rows.count()).toBe(50);
    await page.getByRole('button', { name: 'Next page' }).click();

    // Assess
    await expect.poll(() => rows.first().getAttribute('data-key')).toBe('approval/doc-050');
    expect(requested('/instances').at(-1)?.query.cursor).toBe('50');
    await page.getByRole('button', { name: 'Next page' }).click();
    await expect.poll(() => rows.count()).toBe(20);
    expect(await page.getByRole('button', { name: 'Next page' }).isDisabled()).toBe(true);
    await page.getByRole('button', { name: 'Previous page' }).click();
    await expect.poll(() => rows.first().getAttribute('data-key')).toBe('approval/doc-050');
  });

  it('a state path typed into the filter, and a state chosen with the keyboard, filter too', async () => {
    // Arrange
    await open('#/machine/approval');
    await page.getByTestId('instance-list').waitFor();

    // Act
    await page.getByLabel('State', { exact: true }).fill('draft');
    await page.getByRole('button', { name: 'Filter', exact: true }).click();

    // Assess
    await expect.poll(() => requested('/instances').at(-1)?.query.state).toBe('draft');

    // Act
    await page.locator('.diagram [data-state="review.finance.pending"]').focus();
    await page.keyboard.press('Enter');

    // Assess
    await expect.poll(() => requested('/instances').at(-1)?.query.state).toBe('review.finance.pending');
    // Choosing the chosen state again shows every state.
    await page.locator('.diagram [data-state="review.finance.pending"]').click();
    await expect.poll(() => page.evaluate('location.hash')).toBe('#/machine/approval');
  });

  it('shows an instance: lit diagram, where it stands, context, timers, history with reasons and its dead letters', async () => {
    // Act
    await open('#/instance/approval/doc-001');

    // Assess
    await page.locator('[data-state="review.legal.pending"][data-active="true"]').waitFor();
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Instance approval/doc-001');
    expect(await page.getByTestId('instance-states').locator('li').allTextContents()).toEqual([
      'review.legal.pending',
      'review.finance.pending',
    ]);
    expect(JSON.parse((await page.getByTestId('context').textContent()) ?? '')).toEqual({
      submittedBy: 'eve',
      approvals: {},
      reminders: 0,
    });
    expect(await page.getByRole('region', { name: 'Timers' }).textContent()).toContain('in 2 d');
    const history = page.getByTestId('history').locator('li');
    expect(await history.count()).toBe(3);
    expect(await history.nth(0).textContent()).toContain('redrive of letter l-old');
    expect(await history.nth(1).textContent()).toContain('machine-error the ledger is closed');
    const letters = page.getByRole('region', { name: 'Dead letters' });
    expect(await letters.locator('tr[data-letter-id="l-1"]').textContent()).toContain('the ledger is closed');
    expect(await page.getByLabel('Event type').locator('option').allTextContents()).toEqual(['APPROVE', 'REJECT']);
  });

  it('sends the event the form builds and shows its outcome; the view follows the instance', async () => {
    // Arrange
    stand.data.send = ({ event }) => {
      stand.data.details['approval/doc-001'] = detailOf(['review.legal.signed', 'review.finance.pending'], ['APPROVE', 'REJECT']);
      return {
        status: 200,
        body: {
          result: {
            instanceKey: 'approval/doc-001',
            sequenceNumber: '10000000000000000011',
            outcome: 'resolve',
            value: {},
            states: ['review.legal.signed', 'review.finance.pending'],
            context: {},
            tags: ['resolve'],
            status: 'active',
            echo: event,
          },
        },
      };
    };
    await open('#/instance/approval/doc-001');
    await page.getByLabel('Event type').selectOption('APPROVE');

    // Act
    await page.getByLabel('Other fields (a JSON object)').fill('{ "role": "legal", "by": "ana" }');
    await page.getByRole('button', { name: 'Send APPROVE' }).click();

    // Assess
    await expect
      .poll(() => page.getByTestId('send-result').textContent())
      .toBe('APPROVE → resolve (event 10000000000000000011): review.legal.signed, review.finance.pending');
    expect(requested('/send').map((request) => request.body)).toEqual([
      { key: 'approval/doc-001', event: { type: 'APPROVE', role: 'legal', by: 'ana' } },
    ]);
    await page.locator('[data-state="review.legal.signed"][data-active="true"]').waitFor();
  });

  it('shows a refusal with its code, a queued event, and sends nothing while the fields are not a JSON object', async () => {
    // Arrange
    let answer = {
      status: 422,
      body: { code: 'schema-violation', message: '"role" must be "legal" or "finance", got "sales"' } as unknown,
    };
    stand.data.send = () => answer;
    await open('#/instance/approval/doc-001');
    const fields = page.getByLabel('Other fields (a JSON object)');
    await fields.waitFor();

    // Act / Assess: not JSON, an array, a type
    for (const [text, problem] of [
      ['{ "role": ', 'The fields are not JSON'],
      ['[1]', 'The fields must be a JSON object'],
      ['{ "type": "X" }', 'Leave "type" out of the fields'],
    ] as const) {
      await fields.fill(text);
      await expect.poll(() => page.locator('#fields-problem').textContent()).toContain(problem);
      expect(await page.getByRole('button', { name: 'Send APPROVE' }).isDisabled()).toBe(true);
    }

    // Act / Assess: refused
    await fields.fill('{ "role": "sales", "by": "x" }');
    await page.getByRole('button', { name: 'Send APPROVE' }).click();
    await expect
      .poll(() => page.getByTestId('send-result').textContent())
      .toBe('Refused, nothing sent. schema-violation: "role" must be "legal" or "finance", got "sales"');

    // Act / Assess: queued
    answer = { status: 202, body: { sequenceNumber: '10000000000000000013', message: 'Not handled within 10 s.' } };
    await page.getByRole('button', { name: 'Send APPROVE' }).click();
    await expect
      .poll(() => page.getByTestId('send-result').textContent())
      .toBe('APPROVE is queued as 10000000000000000013 and not handled yet: Not handled within 10 s.');
    expect(requested('/send')).toHaveLength(2);
  });

  it('an instance that does not exist yet is created by the first event sent from its page', async () => {
    // Arrange
    stand.data.send = ({ key, event }) => {
      stand.data.details[key] = detailOf(['draft'], ['SUBMIT']);
      return {
        status: 200,
        body: {
          result: {
            instanceKey: key,
            sequenceNumber: '1',
            outcome: 'resolve',
            value: 'draft',
            states: ['draft'],
            context: {},
            tags: [],
            status: 'active',
            event,
          },
        },
      };
    };
    await open('#/machine/approval');
    await page.getByLabel(/Open an instance by id/).fill('doc-new');

    // Act
    await page.getByRole('button', { name: 'Open' }).click();
    await page.getByText('approval/doc-new does not exist yet').waitFor();
    await expect
      .poll(() => page.getByLabel('Event type').locator('option').allTextContents())
      .toEqual(['SUBMIT', 'APPROVE', 'REJECT', 'RESUBMIT']);
    await page.getByLabel('Other fields (a JSON object)').fill('{"by":"eve"}');
    await page.getByRole('button', { name: 'Send SUBMIT' }).click();

    // Assess
    await page.getByTestId('instance-states').waitFor();
    expect(requested('/send').map((request) => request.body)).toEqual([{ key: 'approval/doc-new', event: { type: 'SUBMIT', by: 'eve' } }]);
  });

  it('lists the dead letters with their reasons; redrives one; offers to force a refused one', async () => {
    // Arrange
    stand.data.redrive = ({ letterId, force }) => {
      const found = stand.data.deadLetters.letters.find((l) => l.letterId === letterId);
      if (!found) return { status: 200, body: { results: [] } };
      if (letterId === 'l-2' && !force) {
        return {
          status: 200,
          body: { results: [{ letter: found, status: 'refused', message: 'its event is malformed (reserved-type)' }] },
        };
      }
      stand.data.deadLetters = { letters: stand.data.deadLetters.letters.filter((l) => l !== found), unread: 0 };
      return {
        status: 200,
        body: {
          results: [
            { letter: found, status: 'redriven', message: 'sent again as 10000000000000000021', sequenceNumber: '10000000000000000021' },
          ],
        },
      };
    };
    await open('#/dead-letters');
    const table = page.getByTestId('dead-letters');
    await table.waitFor();
    expect(await table.locator('tr[data-letter-id="l-2"]').textContent()).toContain("Event type 'xstate.init' is reserved");
    expect(await page.getByTestId('letter-count').textContent()).toBe('2 letters');

    // Act
    await table.locator('tr[data-letter-id="l-1"]').getByRole('button', { name: 'Redrive' }).click();

    // Assess
    await expect
      .poll(() => page.getByRole('status').first().textContent())
      .toBe('redriven approval/doc-001: sent again as 10000000000000000021');
    await expect.poll(() => table.locator('tbody tr').count()).toBe(1);

    // Act: refused, then forced
    await table.locator('tr[data-letter-id="l-2"]').getByRole('button', { name: 'Redrive', exact: true }).click();
    await page.getByText('Refused: its event is malformed (reserved-type)').waitFor();
    await page.getByRole('button', { name: 'Redrive anyway (force)' }).click();

    // Assess
    await page.getByText('No dead letters.').waitFor();
    expect(requested('/redrive').map((request) => request.body)).toEqual([
      { letterId: 'l-1' },
      { letterId: 'l-2' },
      { letterId: 'l-2', force: true },
    ]);
  });

  it('is live: changes appear without a reload; a server that stops answering is reported, then recovered from', async () => {
    // Arrange
    await open('#/machine/approval');
    const total = page.getByTestId('fleet-total');
    await total.waitFor();
    expect(await total.textContent()).toBe('120');

    // Act
    stand.data.fleets.approval = { ...(stand.data.fleets.approval as NonNullable<StandInData['fleets']['approval']>), total: 121 };
    stand.data.instances.unshift(summary('approval/doc-live', ['draft'], ago(0)));

    // Assess
    await expect.poll(() => total.textContent(), { timeout: 5000 }).toBe('121');
    await expect
      .poll(() => page.getByTestId('instance-list').locator('tbody tr').first().getAttribute('data-key'), { timeout: 5000 })
      .toBe('approval/doc-live');

    // Act / Assess: down, then up again
    stand.down = true;
    await page.getByRole('alert').first().waitFor({ timeout: 5000 });
    expect(await page.getByRole('alert').first().textContent()).toContain('unavailable The stand-in is down.');
    expect(await total.textContent()).toBe('121');
    stand.down = false;
    await page.getByRole('alert').first().waitFor({ state: 'detached', timeout: 5000 });
  });

  it('says when a route leads nowhere or a machine is unknown', async () => {
    await open('#/nowhere');
    await page.getByRole('heading', { name: 'Not found' }).waitFor();
    await open('#/machine/nosuch');
    await expect.poll(() => page.getByRole('alert').first().textContent()).toContain('unknown-machine');
  });
});
