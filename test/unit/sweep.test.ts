import type { SQSClient } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { RetryableError } from '../../runtime/core/errors.ts';
import type { DueInstance, InstanceStore } from '../../runtime/core/store.ts';
import { sweep, wakeEvent, type WakeQueue, type WakeUp } from '../../runtime/core/sweep.ts';
import { MemoryWakeQueue } from '../../runtime/memory/memory-queues.ts';
import { SqsWakeQueue } from '../../runtime/aws/sqs-wake-queue.ts';
import { wakeDeduplicationId } from '../../runtime/core/timers.ts';

const minute = 60_000;
const at = Date.parse('2026-11-23T10:00:00Z'); // a whole minute

/** A due index that holds `due` per shard and records every query. */
function dueIndex(due: Record<string, DueInstance[]>) {
  const queries: { shard: string; now: number; limit: number }[] = [];
  const store: InstanceStore = {
    read: async () => undefined,
    write: async (record) => record,
    findDue: async (shard, now, limit) => {
      queries.push({ shard, now, limit });
      return (due[shard] ?? []).filter((instance) => instance.wakeAt <= now).slice(0, limit);
    },
  };
  return { store, queries };
}

/** A wake queue that records each batch it was handed. */
function recordingQueue(): WakeQueue & { batches: WakeUp[][] } {
  const batches: WakeUp[][] = [];
  return { batches, send: async (wakeUps) => void batches.push([...wakeUps]) };
}

function instances(count: number, shard = 's'): DueInstance[] {
  return Array.from({ length: count }, (_, i) => ({ pk: `payment/${shard}-${i}`, wakeAt: at - i }));
}

describe('sweep', () => {
  it('queries every shard once, at the sweep time, with the per-shard limit', async () => {
    const { store, queries } = dueIndex({});

    const result = await sweep({ store, wakeQueue: recordingQueue(), now: () => at, wakeShards: 4, perShardLimit: 7 });

    expect(queries.map((query) => query.shard).sort()).toEqual(['0', '1', '2', '3']);
    expect(queries.every((query) => query.now === at && query.limit === 7)).toBe(true);
    expect(result).toEqual({ woken: 0 });
  });

  it('asks for at most 5,000 instances per shard by default', async () => {
    const { store, queries } = dueIndex({});

    await sweep({ store, wakeQueue: recordingQueue(), now: () => at, wakeShards: 1 });

    expect(queries).toEqual([{ shard: '0', now: at, limit: 5000 }]);
  });

  it('sends the due instances of every shard in batches of at most 10, and counts them', async () => {
    // Prepare
    const due = { '0': instances(13, 'a'), '1': instances(10, 'b'), '2': [] };
    const wakeQueue = recordingQueue();

    // Act
    const result = await sweep({ store: dueIndex(due).store, wakeQueue, now: () => at, wakeShards: 3 });

    // Assess
    expect(result).toEqual({ woken: 23 });
    expect(wakeQueue.batches.map((batch) => batch.length)).toEqual([10, 10, 3]);
    expect(wakeQueue.batches.flat().map(({ pk, wakeAt }) => ({ pk, wakeAt }))).toEqual([...due['0'], ...due['1']]);
  });

  it('sends no empty batch when the due instances fill whole batches', async () => {
    const wakeQueue = recordingQueue();

    await sweep({ store: dueIndex({ '0': instances(20) }).store, wakeQueue, now: () => at, wakeShards: 1 });

    expect(wakeQueue.batches.map((batch) => batch.length)).toEqual([10, 10]);
  });

  it('honours the per-shard limit: the rest wait for the next sweep', async () => {
    const wakeQueue = new MemoryWakeQueue();

    const result = await sweep({
      store: dueIndex({ '0': instances(8), '1': instances(2, 't') }).store,
      wakeQueue,
      now: () => at,
      wakeShards: 2,
      perShardLimit: 3,
    });

    expect(result).toEqual({ woken: 5 });
    expect(wakeQueue.drain().map((wake) => wake.pk)).toEqual(['payment/s-0', 'payment/s-1', 'payment/s-2', 'payment/t-0', 'payment/t-1']);
  });

  it('gives overlapping sweeps within one interval the same deduplication id, and the next interval a new one', async () => {
    // Prepare
    const due = { '0': [{ pk: 'payment/p1', wakeAt: at - 5 * minute }] };
    const idAt = async (now: number, intervalMs?: number) => {
      const wakeQueue = new MemoryWakeQueue();
      await sweep({
        store: dueIndex(due).store,
        wakeQueue,
        now: () => now,
        wakeShards: 1,
        ...(intervalMs === undefined ? {} : { intervalMs }),
      });
      return wakeQueue.drain()[0]?.deduplicationId;
    };

    // Act
    const start = await idAt(at);
    const end = await idAt(at + minute - 1);
    const next = await idAt(at + minute);
    const secondA = await idAt(at + 1000, 1000);
    const secondB = await idAt(at + 1999, 1000);
    const secondC = await idAt(at + 2000, 1000);

    // Assess
    expect(start).toBe(wakeDeduplicationId(due['0'][0] as DueInstance, at / minute));
    expect(end).toBe(start);
    expect(next).not.toBe(start);
    expect(secondA).toBe(secondB);
    expect(secondC).not.toBe(secondB);
  });
});

describe('wakeDeduplicationId', () => {
  it('is the same for the same instance, wakeAt and interval', () => {
    expect(wakeDeduplicationId({ pk: 'payment/p1', wakeAt: 5 }, 9)).toBe(wakeDeduplicationId({ pk: 'payment/p1', wakeAt: 5 }, 9));
  });

  it('differs across instances, wakeAt and intervals, and is a valid SQS deduplication id', () => {
    const ids = [
      wakeDeduplicationId({ pk: 'payment/p1', wakeAt: 5 }, 9),
      wakeDeduplicationId({ pk: 'payment/p2', wakeAt: 5 }, 9),
      wakeDeduplicationId({ pk: 'payment/p1', wakeAt: 6 }, 9),
      wakeDeduplicationId({ pk: 'payment/p1', wakeAt: 5 }, 10),
    ];

    expect(new Set(ids).size).toBe(4);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('wakeEvent', () => {
  it('is a settle.wake carrying the wakeAt the sweeper found', () => {
    expect(wakeEvent(1234)).toEqual({ type: 'settle.wake', wakeAt: 1234 });
  });
});

describe('SqsWakeQueue', () => {
  /** An SQS client that records the input of each command and answers with `failed`. */
  function fakeClient(failed: { Code: string; Message: string }[] = []) {
    const inputs: unknown[] = [];
    const client = {
      send: async (command: { input: unknown }) => {
        inputs.push(command.input);
        return { Failed: failed, Successful: [] };
      },
    };
    return { client: client as unknown as SQSClient, inputs };
  }

  it('sends each wake-up to its instance message group, with its deduplication id and a settle.wake body', async () => {
    const { client, inputs } = fakeClient();
    const queue = new SqsWakeQueue('https://sqs.example/events.fifo', client);

    await queue.send([
      { pk: 'payment/p1', wakeAt: 100, deduplicationId: 'd1' },
      { pk: 'approval/a1', wakeAt: 200, deduplicationId: 'd2' },
    ]);

    expect(inputs).toEqual([
      {
        QueueUrl: 'https://sqs.example/events.fifo',
        Entries: [
          { Id: '0', MessageBody: '{"type":"settle.wake","wakeAt":100}', MessageGroupId: 'payment/p1', MessageDeduplicationId: 'd1' },
          { Id: '1', MessageBody: '{"type":"settle.wake","wakeAt":200}', MessageGroupId: 'approval/a1', MessageDeduplicationId: 'd2' },
        ],
      },
    ]);
  });

  it('makes no call for no wake-ups', async () => {
    const { client, inputs } = fakeClient();

    await new SqsWakeQueue('https://sqs.example/events.fifo', client).send([]);

    expect(inputs).toEqual([]);
  });

  it('throws a retryable queue-unavailable naming each failure when SQS refuses some entries', async () => {
    const { client } = fakeClient([
      { Code: 'Throttled', Message: 'slow down' },
      { Code: 'InternalError', Message: 'oops' },
    ]);
    const queue = new SqsWakeQueue('https://sqs.example/events.fifo', client);

    const sent = queue.send([{ pk: 'payment/p1', wakeAt: 100, deduplicationId: 'd1' }]);

    await expect(sent).rejects.toBeInstanceOf(RetryableError);
    await expect(sent).rejects.toMatchObject({
      code: 'queue-unavailable',
      message: 'Could not send 2 wake-up(s): Throttled: slow down; InternalError: oops. The next sweep tries again.',
    });
  });

  it('succeeds when SQS reports no Failed list at all', async () => {
    const client = { send: async () => ({ Successful: [] }) } as unknown as SQSClient;

    await expect(
      new SqsWakeQueue('https://sqs.example/events.fifo', client).send([{ pk: 'payment/p1', wakeAt: 1, deduplicationId: 'd' }]),
    ).resolves.toBeUndefined();
  });
});

describe('MemoryWakeQueue', () => {
  it('keeps what was sent until drained, then starts empty', async () => {
    const queue = new MemoryWakeQueue();
    await queue.send([{ pk: 'a/1', wakeAt: 1, deduplicationId: 'x' }]);
    await queue.send([{ pk: 'a/2', wakeAt: 2, deduplicationId: 'y' }]);

    expect(queue.drain().map((wake) => wake.pk)).toEqual(['a/1', 'a/2']);
    expect(queue.sent).toEqual([]);
  });
});
