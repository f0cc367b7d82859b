import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SettleClient } from '../../client/index.ts';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { silentLogger } from '../../local/log.ts';
import { signCallback } from '../../runtime/core/callback-token.ts';
import { registry } from '../support/cli-registry.ts';
import { waitFor } from '../support/wait-for.ts';

/**
 * The HTTP API over real HTTP against the local stack: the handler API Gateway runs on AWS, behind the local
 * server `settle dev` serves on 127.0.0.1.
 */
let stack: LocalStack;
let api: string;
let client: SettleClient;

beforeAll(async () => {
  stack = await startLocalStack({
    registry,
    apiPort: 0,
    logger: silentLogger,
    // A hanging event gives up after 1.5 s, so that a wait shorter than that runs out for sure.
    settings: { SETTLE_EVENT_TIMEOUT_MS: '1500' },
  });
  api = stack.api?.url ?? '';
  client = stack.client();
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

interface Answer {
  readonly status: number;
  readonly type: string;
  readonly text: string;
  json<T = Record<string, unknown>>(): T;
}

async function call(method: string, path: string, options: { body?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  const response = await fetch(`${api}${path}`, { method, body: options.body, headers: options.headers });
  const text = await response.text();
  return {
    status: response.status,
    type: response.headers.get('content-type') ?? '',
    text,
    json: <T>() => JSON.parse(text) as T,
  };
}

const asJson = { 'content-type': 'application/json' };
const post = (path: string, event: unknown, headers: Record<string, string> = {}) =>
  call('POST', path, { body: JSON.stringify(event), headers: { ...asJson, ...headers } });

/** The path of a callback link, on this test's API. */
const pathOf = (link: string) => new URL(link).pathname;

describe('POST /instances/{machine}/{id}/events', () => {
  it('answers ?wait=5 with the settled state, like the seed server did', async () => {
    const answer = await post('/instances/counter/h1/events?wait=5', { type: 'COUNT' });

    expect(answer.status).toBe(200);
    expect(answer.json()).toMatchObject({
      instanceKey: 'counter/h1',
      outcome: 'resolve',
      value: 'even',
      states: ['even'],
      context: { count: 2 },
      tags: ['resolve'],
      status: 'active',
    });
    expect(answer.json<{ sequenceNumber: string }>().sequenceNumber).toMatch(/^\d+$/);
  });

  it('answers 202 with the sequence number without wait, and when the wait runs out', async () => {
    const queued = await post('/instances/counter/h2/events', { type: 'COUNT' });
    expect(queued.status).toBe(202);
    expect(queued.json()).toEqual({ instanceKey: 'counter/h2', sequenceNumber: expect.stringMatching(/^\d+$/) });

    const hanging = await post('/instances/faulty/h3/events?wait=1', { type: 'HANG' });
    expect(hanging.status).toBe(202);
    expect(hanging.json()).toMatchObject({
      instanceKey: 'faulty/h3',
      sequenceNumber: expect.stringMatching(/^\d+$/),
      message: expect.stringMatching(/had not handled event \d+ after 1000 ms\. It is queued, not lost/),
    });
  });

  it('takes the Idempotency-Key header as the SQS deduplication id: a retried POST is applied once', async () => {
    const first = await post('/instances/counter/h4/events?wait=5', { type: 'COUNT' }, { 'idempotency-key': 'order-77-count' });
    const retry = await post('/instances/counter/h4/events?wait=5', { type: 'COUNT' }, { 'idempotency-key': 'order-77-count' });

    expect(retry.json<{ sequenceNumber: string }>().sequenceNumber).toBe(first.json<{ sequenceNumber: string }>().sequenceNumber);
    expect((await client.get('counter', 'h4'))?.history).toHaveLength(1);
    expect((await client.get('counter', 'h4'))?.context).toEqual({ count: 2 });
  });
});

describe('GET /instances', () => {
  it('shows one instance: state, context, tags, timers and history; 404 for one that does not exist', async () => {
    await post('/instances/payment/h5/events?wait=5', { type: 'CHECKOUT', amount: 42 });

    const shown = await call('GET', '/instances/payment/h5');
    expect(shown.status).toBe(200);
    expect(shown.json()).toMatchObject({
      key: 'payment/h5',
      states: ['awaitingPayment'],
      context: { amount: 42 },
      tags: ['resolve'],
      timers: [{ eventType: expect.stringContaining('paymentWindow'), fireAt: expect.any(String) }],
      history: [{ type: 'CHECKOUT', outcome: 'resolve' }],
    });
    const missing = await call('GET', '/instances/payment/nobody');
    expect(missing.status).toBe(404);
    expect(missing.json()).toEqual({ code: 'unknown-instance', message: 'payment/nobody does not exist: no event has created it yet.' });
  });

  it('lists a machine by state through the list index', async () => {
    await post('/instances/tally/l1/events?wait=5', { type: 'COUNT' });

    const listed = await call('GET', '/instances?machine=tally&state=even');
    expect(listed.status).toBe(200);
    expect(listed.json<{ items: { key: string }[] }>().items.map((item) => item.key)).toContain('tally/l1');
    expect((await call('GET', '/instances?machine=tally&state=counting')).json<{ items: unknown[] }>().items).toEqual([]);
    expect((await call('GET', '/instances')).json()).toMatchObject({ code: 'invalid-option' });
  });
});

describe('callback links', () => {
  it('runs the approval by its links: GET shows and changes nothing, POST decides, a second POST says so', async () => {
    const submitted = await post('/instances/approval/doc-9/events?wait=5', { type: 'SUBMIT', by: 'eve' });
    const { context } = submitted.json<{ context: { links: Record<'legal' | 'finance', { approve: string; reject: string }> } }>();
    // The machine's review made one pair of links per sign-off, on this API.
    for (const role of ['legal', 'finance'] as const) {
      expect(context.links[role].approve).toMatch(new RegExp(`^${api}/callbacks/[\\w-]+\\.[\\w-]+$`));
      expect(context.links[role].reject).not.toBe(context.links[role].approve);
    }
    const approveLegal = pathOf(context.links.legal.approve);
    const before = await client.get('approval', 'doc-9');

    const page = await call('GET', approveLegal, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(page.type).toContain('text/html');
    expect(page.text).toContain('<h1>APPROVE approval/doc-9?</h1>');
    expect(page.text).toContain('Nothing has happened yet');
    expect(page.text).toMatch(/<form method="post" action="\/callbacks\/[\w.-]+"><button type="submit">APPROVE<\/button><\/form>/);
    const shown = await call('GET', approveLegal);
    expect(shown.json()).toMatchObject({ decision: 'open', instanceKey: 'approval/doc-9', event: { type: 'APPROVE', role: 'legal' } });
    const after = await client.get('approval', 'doc-9');
    expect({ version: after?.version, lastSeq: after?.lastSeq }).toEqual({ version: before?.version, lastSeq: before?.lastSeq });

    const approved = await call('POST', approveLegal);
    expect(approved.status).toBe(200);
    expect(approved.json()).toMatchObject({
      decision: 'done',
      outcome: 'resolve',
      states: ['review.legal.signed', 'review.finance.pending'],
      context: { approvals: { legal: 'legal sign-off link' } },
    });

    const again = await call('POST', approveLegal, { headers: { accept: 'text/html' } });
    expect(again.status).toBe(200);
    expect(again.text).toContain('<h1>This link was already used</h1>');
    expect((await call('POST', approveLegal)).json()).toMatchObject({ decision: 'already-used' });
    const history = (await client.get('approval', 'doc-9'))?.history ?? [];
    expect(history.map((entry) => entry.type)).toEqual(['SUBMIT', 'APPROVE']);
    expect((await call('GET', approveLegal)).json()).toMatchObject({
      decision: 'already-decided',
      states: ['review.legal.signed', 'review.finance.pending'],
    });

    // Finance rejects with a reason, from the form a browser posts.
    const rejected = await call('POST', pathOf(context.links.finance.reject), {
      body: 'reason=over+budget',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
    });
    expect(rejected.status).toBe(200);
    expect(rejected.text).toContain('<h1>Done</h1>');
    expect(rejected.text).toContain('approval/doc-9 took REJECT: it is now in rejected.');
    expect((await client.get('approval', 'doc-9'))?.context).toMatchObject({
      rejection: { role: 'finance', by: 'finance sign-off link', reason: 'over budget' },
    });

    // A link whose event the instance no longer takes: "already decided", not an error.
    const late = await call('POST', pathOf(context.links.finance.approve), { headers: { accept: 'text/html' } });
    expect(late.status).toBe(200);
    expect(late.text).toContain('<h1>Already decided</h1>');
    expect(late.text).toContain('approval/doc-9 no longer takes APPROVE: it is in rejected. Nothing changed.');
  }, 60_000);

  it('refuses a tampered and an expired link on both methods, and sends nothing', async () => {
    const submitted = await post('/instances/approval/doc-10/events?wait=5', { type: 'SUBMIT', by: 'eve' });
    const link = pathOf(submitted.json<{ context: { links: { legal: { approve: string } } } }>().context.links.legal.approve);
    const [payload, signature] = link.replace('/callbacks/', '').split('.') as [string, string];
    // Another instance in the claims, the original signature: the signature no longer holds.
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    const forged = Buffer.from(JSON.stringify({ ...claims, i: 'approval/doc-11' })).toString('base64url');
    const expired = signCallback(stack.api?.callbackKey ?? '', {
      instance: 'approval/doc-10',
      event: { type: 'APPROVE', role: 'legal', by: 'x' },
      data: [],
      expiresAt: Math.floor(Date.now() / 1000) - 60,
    });
    const before = await client.get('approval', 'doc-10');

    for (const method of ['GET', 'POST']) {
      for (const token of [`${forged}.${signature}`, `${payload}.${signature.slice(0, -2)}`, `${payload}`, 'not-a-token']) {
        const refused = await call(method, `/callbacks/${token}`);
        expect(refused.status, `${method} ${token}`).toBe(403);
        expect(refused.json()).toMatchObject({ code: 'invalid-token', message: expect.stringMatching(/^This link is not valid/) });
      }
      const gone = await call(method, `/callbacks/${expired}`, { headers: { accept: 'text/html' } });
      expect(gone.status).toBe(410);
      expect(gone.text).toMatch(
        /This link expired on \d{4}-\d\d-\d\dT[\d:.]+Z: it no longer acts on approval\/doc-10\. Ask for a new link\./,
      );
    }
    const after = await client.get('approval', 'doc-10');
    expect(after?.version).toBe(before?.version);
    expect(await client.get('approval', 'doc-11')).toBeUndefined();
  }, 60_000);

  it('makes links from the client as well', async () => {
    const local = stack.client();
    const link = await local.callbackUrl('counter', 'h9', { type: 'COUNT' }, { expiresIn: '1h' });

    const counted = await call('POST', pathOf(link));
    expect(counted.json()).toMatchObject({ decision: 'done', instanceKey: 'counter/h9', context: { count: 2 } });
  });
});

describe('bad input', () => {
  it('gets a 4xx { code, message } with the DLQ code where one matches, and nothing reaches the queue', async () => {
    const cases: [string, string, Record<string, string>, number, string][] = [
      // Over the 10 MiB an event may take through the payload bucket (one of 300 KB goes there: test/payloads.test.ts).
      [
        '/instances/counter/b1/events',
        JSON.stringify({ type: 'COUNT', pad: 'x'.repeat(10 * 1024 * 1024) }),
        asJson,
        413,
        'event-too-large',
      ],
      ['/instances/counter/b2/events', '{"type":', asJson, 400, 'invalid-json'],
      ['/instances/counter/b3/events', '{"type":"COUNT"}', { 'content-type': 'text/plain' }, 415, 'unsupported-media-type'],
      ['/instances/nope/b4/events', '{"type":"COUNT"}', asJson, 404, 'unknown-machine'],
      ['/instances/Counter/b5/events', '{"type":"COUNT"}', asJson, 400, 'invalid-instance-key'],
      ['/instances/counter/b6/events', '{"type":"xstate.init"}', asJson, 400, 'reserved-type'],
      ['/instances/counter/b7/events', '[1,2]', asJson, 400, 'invalid-event'],
      ['/instances/counter/b8/events', '{"type":"SUBMIT"}', asJson, 422, 'unknown-event'],
      ['/instances/approval/b9/events', '{"type":"APPROVE","role":"sales","by":"x"}', asJson, 422, 'schema-violation'],
      ['/instances/counter/b10/events?wait=60', '{"type":"COUNT"}', asJson, 400, 'invalid-wait'],
      [
        '/instances/counter/b11/events',
        '{"type":"COUNT"}',
        { ...asJson, 'idempotency-key': 'has spaces in it' },
        400,
        'invalid-idempotency-key',
      ],
    ];
    for (const [path, body, headers, status, code] of cases) {
      const answer = await call('POST', path, { body, headers });
      expect(answer.status, `${path} ${code}`).toBe(status);
      expect(answer.json(), path).toEqual({ code, message: expect.any(String) });
      expect(answer.json<{ message: string }>().message.length).toBeGreaterThan(20);
    }
    expect((await call('DELETE', '/instances/counter/b1')).json()).toMatchObject({ code: 'not-found' });

    // Nothing reached the worker: a marker sent after them is the only event any of these instances saw.
    const marker = await post('/instances/counter/b2/events?wait=5', { type: 'COUNT' });
    expect(marker.status).toBe(200);
    expect((await client.get('counter', 'b2'))?.history).toHaveLength(1);
    for (const id of ['b1', 'b3', 'b5', 'b6', 'b7', 'b8', 'b10', 'b11']) expect(await client.get('counter', id)).toBeUndefined();
    const { letters } = await client.deadLetters.list();
    expect(letters.filter((letter) => /\/b\d+$/.test(letter.instanceKey))).toEqual([]);
  }, 60_000);
});

describe('the local server', () => {
  it('listens on loopback only', async () => {
    expect(new URL(api).hostname).toBe('127.0.0.1');
    await waitFor(async () => (await call('GET', '/instances/counter/h1')).status === 200, { description: 'the API answering' });
  });
});
