import { SendMessageBatchCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromPromise, setup } from 'xstate';
import { silentLogger } from '../local/log.ts';
import { startLocalStack, type LocalStack } from '../local/stack.ts';
import { defineRegistry } from '../runtime/core/registry.ts';
import type { InstanceRecord } from '../runtime/core/store.ts';
import { createWorkerHandler, type AppliedEvent } from '../runtime/aws/worker.ts';
import { registry } from '../machines/index.ts';

/** Fails to settle on its first attempt at each `FLAKY` event, then succeeds: a retryable failure. */
const attempts = new Map<string, number>();
const testRegistry = defineRegistry({
  ...registry,
  flaky: {
    version: 1,
    machine: setup({
      types: { input: {} as { instanceKey: string }, context: {} as { key: string } },
      actors: {
        work: fromPromise<void, { id: string }>(async ({ input }) => {
          const seen = (attempts.get(input.id) ?? 0) + 1;
          attempts.set(input.id, seen);
          if (seen === 1) await new Promise<never>(() => undefined);
        }),
      },
    }).createMachine({
      id: 'flaky',
      context: ({ input }) => ({ key: input.instanceKey }),
      initial: 'idle',
      states: {
        idle: { tags: ['resolve'], on: { FLAKY: 'working', STEADY: 'idle' } },
        working: {
          invoke: {
            src: 'work',
            input: ({ event }) => ({ id: (event as { settle?: { idempotencyKey: string } }).settle?.idempotencyKey ?? '' }),
            onDone: 'idle',
          },
        },
      },
    }),
  },
});

let stack: LocalStack;
const applied: AppliedEvent[] = [];
let sent = 0;

beforeAll(async () => {
  stack = await startLocalStack({
    logger: silentLogger,
    sweepIntervalMs: 100,
    // 10 s worker timeout minus a 9.7 s margin: a 300 ms settle budget, so the flaky event times out fast.
    settings: { SETTLE_MARGIN_MS: '9700' },
    // A failed record comes back after 1 s instead of the queue's 60 s.
    poller: { waitTimeSeconds: 1, visibilityTimeoutSeconds: 1 },
    handler: ({ config, clients, now }) =>
      createWorkerHandler({
        config,
        registry: testRegistry,
        sqs: clients.sqs,
        dynamo: clients.document,
        now,
        onApplied: (event) => applied.push(event),
      }),
  });
}, 30_000);

afterAll(async () => {
  await stack?.stop();
});

function send(group: string, body: unknown) {
  sent += 1;
  return stack.clients.sqs.send(
    new SendMessageCommand({
      QueueUrl: stack.queueUrl,
      MessageGroupId: group,
      MessageDeduplicationId: `it-${sent}`,
      MessageBody: JSON.stringify(body),
    }),
  );
}

async function item(pk: string): Promise<InstanceRecord | undefined> {
  const { Item } = await stack.clients.document.send(new GetCommand({ TableName: stack.tableName, Key: { pk }, ConsistentRead: true }));
  if (!Item) return undefined;
  return { ...(Item as InstanceRecord), snapshot: JSON.parse(String(Item.snapshot)) as InstanceRecord['snapshot'] };
}

async function until<T>(read: () => Promise<T>, accept: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (accept(value)) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms; last value: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 100)); // poll interval of a bounded wait
  }
}

describe('local stack, through real SQS messages and DynamoDB', () => {
  it('applies interleaved events of 20 instances, each instance in order and exactly once', async () => {
    const instances = Array.from({ length: 20 }, (_, i) => `counter/it-${i}`);
    for (let round = 0; round < 5; round += 1) {
      for (let start = 0; start < instances.length; start += 10) {
        await stack.clients.sqs.send(
          new SendMessageBatchCommand({
            QueueUrl: stack.queueUrl,
            Entries: instances.slice(start, start + 10).map((group, i) => ({
              Id: String(i),
              MessageGroupId: group,
              MessageDeduplicationId: `${group}-${round}`,
              MessageBody: JSON.stringify({ type: 'COUNT' }),
            })),
          }),
        );
      }
    }

    const items = await until(
      () => Promise.all(instances.map(item)),
      (all) => all.every((it) => (it?.snapshot.context as { count?: number } | undefined)?.count === 10),
      30_000,
    );

    for (const it of items) {
      const seqs = it?.history.map((h) => BigInt(h.seq)) ?? [];
      expect(seqs).toHaveLength(5);
      expect([...seqs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))).toEqual(seqs);
      expect(BigInt(it?.lastSeq ?? '-1')).toBe(seqs.at(-1));
      // Sequence numbers are kept as SQS wrote them (fauxqs pads them to 20 digits), so that a sender can match them.
      expect(it?.lastSeq).toMatch(/^\d{20}$/);
      expect(it?.value).toBe('even');
    }
  }, 60_000);

  it('settles the parallel approval only when both sign-offs are in, then reaches done', async () => {
    await send('approval/it-doc', { type: 'SUBMIT', by: 'eve' });
    await send('approval/it-doc', { type: 'APPROVE', role: 'legal', by: 'ana' });
    const waiting = await until(
      () => item('approval/it-doc'),
      (it) => it?.history.length === 2,
    );
    expect(waiting?.value).toEqual({ review: { legal: 'signed', finance: 'pending' } });
    expect(waiting?.outcome).toBe('resolve');

    await send('approval/it-doc', { type: 'APPROVE', role: 'finance', by: 'bo' });

    const done = await until(
      () => item('approval/it-doc'),
      (it) => it?.status === 'done',
    );
    expect(done?.value).toBe('approved');
    expect(done?.timers).toEqual([]);
  });

  it('fires a durable timer through the sweeper and the queue', async () => {
    await send('payment/it-pay', { type: 'CHECKOUT', amount: 5, windowSeconds: 1 });

    const expired = await until(
      () => item('payment/it-pay'),
      (it) => it?.value === 'expired',
    );

    expect(expired?.outcome).toBe('reject');
    expect(expired?.history.map((h) => h.type)).toEqual(['CHECKOUT', 'xstate.after.paymentWindow.payment.awaitingPayment']);
  });

  it('retries a record that did not settle, after the visibility timeout, keeping its group in order', async () => {
    await send('flaky/it-f', { type: 'FLAKY' });
    await send('flaky/it-f', { type: 'STEADY' });

    const done = await until(
      () => item('flaky/it-f'),
      (it) => it?.history.length === 2,
    );

    expect(done?.history.map((h) => [h.type, h.outcome])).toEqual([
      ['FLAKY', 'resolve'],
      ['STEADY', 'resolve'],
    ]);
    expect([...attempts.values()]).toEqual([2]); // the first attempt timed out, the redelivery applied it
    expect(applied.filter((a) => a.instanceKey === 'flaky/it-f').map((a) => a.eventType)).toEqual(['FLAKY', 'STEADY']);
  });
});
