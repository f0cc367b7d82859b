import { randomBytes } from 'node:crypto';
import { assign, setup } from 'xstate';
import { describe, expect, it } from 'vitest';
import { defineRegistry } from '../runtime/core/registry.ts';
import { registry } from '../machines/index.ts';
import { createTestWorld, NotSettledError } from '../testing/index.ts';

const day = 24 * 3600 * 1000;

describe('settle/testing', () => {
  it('runs each event through the worker, restoring the instance in between, and tells how it ended', async () => {
    const world = createTestWorld(registry);

    const submitted = await world.send('approval/doc-1', { type: 'SUBMIT', by: 'eve' });
    const legal = await world.send('approval/doc-1', { type: 'APPROVE', role: 'legal', by: 'ana' });
    const ignored = await world.send('approval/doc-1', { type: 'SUBMIT', by: 'eve' });
    const done = await world.send('approval/doc-1', { type: 'APPROVE', role: 'finance', by: 'bo' });

    expect(submitted).toMatchObject({ outcome: 'resolve', states: ['review.legal.pending', 'review.finance.pending'] });
    expect(legal).toMatchObject({ outcome: 'resolve', states: ['review.legal.signed', 'review.finance.pending'] });
    expect(ignored.outcome).toBe('ignored');
    expect(done).toMatchObject({ outcome: 'done', value: 'approved' });
    expect((await world.instance('approval/doc-1')).version).toBe(4); // one save per event: restored four times
  });

  it('follows the callback links a machine made, with the data a link lets the caller add; a tampered one is refused', async () => {
    const world = createTestWorld(registry);

    const submitted = await world.send('approval/doc-2', { type: 'SUBMIT', by: 'eve' });
    const { links } = submitted.context as { links: Record<'legal' | 'finance', { approve: string; reject: string }> };
    expect(links.legal.approve).toMatch(/^https:\/\/settle\.test\/callbacks\//);

    expect(await world.follow(links.legal.approve)).toMatchObject({
      outcome: 'resolve',
      states: ['review.legal.signed', 'review.finance.pending'],
    });
    const rejected = await world.follow(links.finance.reject, { reason: 'over budget', by: 'not-allowed' });
    expect(rejected).toMatchObject({ outcome: 'reject', states: ['rejected'] });
    expect(rejected.context).toMatchObject({ rejection: { role: 'finance', by: 'finance sign-off link', reason: 'over budget' } });
    await expect(world.follow(`${links.legal.approve}x`)).rejects.toThrow(/This link is not valid/);
  });

  it('moves simulated time days ahead and fires each durable timer at its own time', async () => {
    const world = createTestWorld(registry, { start: '2026-03-02T09:00:00Z' });
    await world.send('approval/doc-2', { type: 'SUBMIT', by: 'eve' });

    await world.advance({ days: 3 });
    const reminded = await world.instance('approval/doc-2');
    await world.advance({ days: 5 });
    const expired = await world.instance('approval/doc-2');

    expect((reminded.snapshot as unknown as { context: { reminders: number } }).context.reminders).toBe(1);
    expect(reminded.history.at(-1)?.at).toBe(new Date(Date.parse('2026-03-02T09:00:00Z') + 2 * day).toISOString());
    expect(expired.value).toBe('expired');
    expect(world.now).toBe(Date.parse('2026-03-02T09:00:00Z') + 8 * day);
  });

  it('reports a dead-lettered event with its code and reason', async () => {
    const world = createTestWorld(registry);

    const result = await world.send('counter/c1', { type: 'xstate.init' });

    expect(result.outcome).toBe('dead-lettered');
    expect(result.deadLetter).toMatchObject({ code: 'reserved-type', reason: expect.stringMatching(/reserved prefix 'xstate\.'/) });
    expect(world.deadLetters).toHaveLength(1);
  });

  it('fails clearly when a state cannot settle, saying which tag is missing', async () => {
    const forgetful = defineRegistry({
      door: {
        version: 1,
        machine: setup({}).createMachine({ initial: 'closed', states: { closed: { tags: ['resolve'], on: { OPEN: 'open' } }, open: {} } }),
      },
    });
    const world = createTestWorld(forgetful, { eventTimeoutMs: 50 });

    const sent = world.send('door/d1', { type: 'OPEN' });

    await expect(sent).rejects.toThrow(NotSettledError);
    await expect(sent).rejects.toThrow(
      /door\/d1 did not settle within \d+ ms after event 'OPEN' \(it rests in "open"\)\. Tag every state where the machine waits/,
    );
  });

  it('takes events and contexts past SQS and DynamoDB limits through its payload store, as the worker on AWS does', async () => {
    const keeper = defineRegistry({
      keeper: {
        version: 1,
        machine: setup({ types: { context: {} as { kept: string[] }, events: {} as { type: 'KEEP'; data: string } } }).createMachine({
          context: { kept: [] },
          initial: 'open',
          states: {
            open: { tags: ['resolve'], on: { KEEP: { actions: assign({ kept: ({ context, event }) => [...context.kept, event.data] }) } } },
          },
        }),
      },
    });
    const world = createTestWorld(keeper);
    const data = randomBytes(768 * 1024).toString('base64'); // 1 MiB of text that gzip cannot shrink

    const first = await world.send('keeper/k1', { type: 'KEEP', data });
    const second = await world.send('keeper/k1', { type: 'KEEP', data: 'small' });

    expect(first.outcome).toBe('resolve');
    expect(second.context).toEqual({ kept: [data, 'small'] });
    expect((await world.instance('keeper/k1')).snapshotRef?.key).toMatch(/^snapshots\/keeper\/k1\/v2-/);
    expect(world.deadLetters).toEqual([]);
  });
});
