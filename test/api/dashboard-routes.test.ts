import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiServer, type RunningApi } from '../../api/server.ts';
import type { SettleClient } from '../../client/index.ts';
import { createDashboardHandler, type DrawMachine } from '../../dashboard/routes.ts';
import { silentLogger } from '../../local/log.ts';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import type { MachineRegistry } from '../../runtime/core/registry.ts';
import { registry } from '../support/cli-registry.ts';
import { waitFor } from '../support/wait-for.ts';

/**
 * The dashboard's server side over real HTTP against the local stack, with a stand-in diagram engine that
 * records what it was asked to draw (the diagrams themselves are test/diagram's).
 */
let stack: LocalStack;
let server: RunningApi;
let client: SettleClient;
const drawn: Parameters<DrawMachine>[1][] = [];

beforeAll(async () => {
  stack = await startLocalStack({ registry, logger: silentLogger });
  client = stack.client<MachineRegistry>(registry);
  const routes = createDashboardHandler({
    client,
    registry: () => registry,
    draw: async (machine, options) => {
      drawn.push(options);
      return `<svg data-machine="${machine.id}"></svg>`;
    },
    assets: async () => ({ html: '<!doctype html><title>Settle</title>', js: 'console.log(1)', css: 'body{}' }),
  });
  server = await startApiServer(async () => ({ statusCode: 404, body: '{"code":"api"}' }), 0, routes);
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await stack?.stop();
});

async function get<T = Record<string, unknown>>(path: string): Promise<{ status: number; body: T }> {
  const response = await fetch(`${server.url}${path}`);
  return { status: response.status, body: (await response.json()) as T };
}

async function post<T = Record<string, unknown>>(path: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${server.url}${path}`, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...headers },
  });
  return { status: response.status, body: (await response.json()) as T };
}

describe('dashboard routes', () => {
  it('serves the page and its assets, and leaves every other path to the HTTP API', async () => {
    const page = await fetch(`${server.url}/`);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(await page.text()).toContain('<title>Settle</title>');
    expect(await (await fetch(`${server.url}/dashboard/app.js`)).text()).toBe('console.log(1)');
    expect(await (await fetch(`${server.url}/instances/counter/x`)).json()).toEqual({ code: 'api' });
    expect((await get('/dashboard/api/nothing')).body).toMatchObject({ code: 'not-found' });
  });

  it('lists every machine with the event types it takes and its diagram', async () => {
    const { body } = await get<{ machines: { name: string; version: number; events: string[]; diagram: string }[] }>(
      '/dashboard/api/machines',
    );

    expect(body.machines.map((machine) => machine.name)).toEqual(Object.keys(registry));
    expect(body.machines.find((machine) => machine.name === 'approval')).toMatchObject({
      version: 1,
      events: ['APPROVE', 'REJECT', 'RESUBMIT', 'SUBMIT'],
      diagram: '<svg data-machine="approval"></svg>',
    });
  });

  it('counts the fleet per state path (ancestors included) with the oldest update, and draws the counts', async () => {
    for (const id of ['f1', 'f2', 'f3']) await client.sendAndWait('document', id, { type: 'SUBMIT', by: 'eve' });
    await client.sendAndWait('document', 'f1', { type: 'APPROVE', role: 'legal', by: 'ana' });
    await client.sendAndWait('document', 'f4', { type: 'SUBMIT', by: 'eve' });
    await client.sendAndWait('document', 'f4', { type: 'REJECT', role: 'finance', by: 'bo' });
    const stored = await Promise.all(['f1', 'f2', 'f3', 'f4'].map((id) => client.get('document', id)));
    const updated = (ids: number[]) => ids.map((index) => stored[index]?.updatedAt ?? '').sort()[0];

    const { body } = await get<{ total: number; counts: Record<string, { count: number; oldestUpdatedAt: string }> }>(
      '/dashboard/api/fleet?machine=document',
    );

    expect(body.total).toBe(4);
    expect(body.counts).toEqual({
      review: { count: 3, oldestUpdatedAt: updated([0, 1, 2]) },
      'review.legal': { count: 3, oldestUpdatedAt: updated([0, 1, 2]) },
      'review.legal.signed': { count: 1, oldestUpdatedAt: updated([0]) },
      'review.legal.pending': { count: 2, oldestUpdatedAt: updated([1, 2]) },
      'review.finance': { count: 3, oldestUpdatedAt: updated([0, 1, 2]) },
      'review.finance.pending': { count: 3, oldestUpdatedAt: updated([0, 1, 2]) },
      rejected: { count: 1, oldestUpdatedAt: updated([3]) },
    });
    expect(drawn.at(-1)).toEqual({ counts: body.counts });
    expect((await get('/dashboard/api/fleet?machine=nope')).status).toBe(404);
  });

  it('shows an instance: its view, its states lit, the events its states take, its dead letters', async () => {
    await client.sendAndWait('document', 'i1', { type: 'SUBMIT', by: 'eve' });
    const { body } = await get<{ instance: { key: string; states: string[] }; diagram: string; events: string[]; deadLetters: unknown[] }>(
      '/dashboard/api/instance?key=document/i1',
    );

    expect(body.instance).toMatchObject({ key: 'document/i1', states: ['review.legal.pending', 'review.finance.pending'] });
    expect(drawn.at(-1)).toEqual({ active: ['review.legal.pending', 'review.finance.pending'] });
    expect(body.events).toEqual(['APPROVE', 'REJECT']);
    expect(body.deadLetters).toEqual([]);
    expect(await get('/dashboard/api/instance?key=document/none')).toMatchObject({ status: 404, body: { code: 'unknown-instance' } });
    expect(await get('/dashboard/api/instance?key=bad')).toMatchObject({ status: 400, body: { code: 'invalid-instance-key' } });
  });

  it("sends an event and answers with its outcome; refuses what the worker would, with the worker's code", async () => {
    const sent = await post<{ result: { outcome: string; states: string[] } }>('/dashboard/api/send', {
      key: 'approval/s1',
      event: { type: 'SUBMIT', by: 'eve' },
    });
    expect(sent).toMatchObject({
      status: 200,
      body: { result: { outcome: 'resolve', states: ['review.legal.pending', 'review.finance.pending'] } },
    });

    const refused = await post('/dashboard/api/send', { key: 'approval/s1', event: { type: 'APPROVE', role: 'sales', by: 'x' } });
    expect(refused).toMatchObject({ status: 400, body: { code: 'schema-violation' } });
    expect((await client.get('approval', 's1'))?.history).toHaveLength(1);
  });

  it('lists dead letters and redrives one, through the guarded redrive', async () => {
    const failed = await client.sendAndWait('faulty', 'd1', { type: 'ACTION_THROWS' });
    expect(failed.outcome).toBe('dead-lettered');
    // The route reuses a listing up to 3 s old (a browse hides every letter while it runs): the letter shows by then.
    const letter = await waitFor(
      async () =>
        (
          await get<{ letters: { letterId: string; instanceKey: string; code: string }[] }>('/dashboard/api/dead-letters')
        ).body.letters.find((candidate) => candidate.instanceKey === 'faulty/d1'),
      { timeoutMs: 10_000, description: "faulty/d1's letter in the dashboard's listing" },
    );
    expect(letter.code).toBe('machine-error');

    const shown = await get<{ deadLetters: { letterId: string }[] }>('/dashboard/api/instance?key=faulty/d1');
    expect(shown.body.deadLetters.map((candidate) => candidate.letterId)).toEqual([letter.letterId]);
    // The machine still throws on it: redriven, applied again, dead-lettered again (a fresh letter).
    const redriven = await post<{ results: { status: string }[] }>('/dashboard/api/redrive', { letterId: letter.letterId });
    expect(redriven.body.results.map((result) => result.status)).toEqual(['redriven']);
  });

  it('takes changes only from its own page: another origin, a foreign Host, a non-JSON body are refused', async () => {
    const foreign = await post('/dashboard/api/send', { key: 'counter/o1', event: { type: 'COUNT' } }, { origin: 'https://evil.example' });
    expect(foreign).toMatchObject({ status: 403, body: { code: 'forbidden-origin' } });
    const form = await fetch(`${server.url}/dashboard/api/send`, {
      method: 'POST',
      body: 'key=counter/o1',
      headers: { 'content-type': 'text/plain' },
    });
    expect(form.status).toBe(415);
    const rebound = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const url = new URL(`${server.url}/dashboard/api/machines`);
      request({ host: url.hostname, port: url.port, path: url.pathname, headers: { host: 'attacker.example:3000' } }, (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => {
          text += chunk;
        });
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
      })
        .on('error', reject)
        .end();
    });
    expect(rebound.status).toBe(403);
    expect(JSON.parse(rebound.body)).toMatchObject({ code: 'forbidden-host' });
    expect(await client.get('counter', 'o1')).toBeUndefined();
  });
});
