import type { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { SettleClient } from '../../client/index.ts';

/** An SQS client that records each batch and refuses the entries `refuse` picks, once each. */
function batchRecorder(refuse: (body: string) => boolean = () => false) {
  const batches: { key: string; body: string }[][] = [];
  /** What SQS took, in the order it took it. */
  const accepted: { key: string; body: string }[] = [];
  const refused = new Set<string>();
  let sequence = 0;
  const sqs = {
    send: async (command: SendMessageBatchCommand) => {
      const entries = command.input.Entries ?? [];
      batches.push(entries.map((entry) => ({ key: entry.MessageGroupId ?? '', body: entry.MessageBody ?? '' })));
      const failed = entries.filter((entry) => refuse(entry.MessageBody ?? '') && !refused.has(entry.MessageBody ?? ''));
      for (const entry of failed) refused.add(entry.MessageBody ?? '');
      for (const entry of entries) {
        if (!failed.includes(entry)) accepted.push({ key: entry.MessageGroupId ?? '', body: entry.MessageBody ?? '' });
      }
      const first = sequence;
      sequence += entries.length - failed.length;
      return {
        Successful: entries
          .filter((entry) => !failed.includes(entry))
          .map((entry, index) => ({ Id: entry.Id, MessageId: `m-${entry.Id}`, SequenceNumber: String(first + index + 1) })),
        Failed: failed.map((entry) => ({ Id: entry.Id, Code: 'InternalError', Message: 'try again', SenderFault: false })),
      };
    },
    destroy: () => undefined,
  } as unknown as SQSClient;
  return { sqs, batches, accepted };
}

const note = (id: string, n: number) => ({ machine: 'recorder', id, event: { type: 'NOTE', n } });

describe('SettleClient.sendMany batches', () => {
  it('puts at most one event of an instance in a batch, so a refused entry retried cannot overtake its successor', async () => {
    const { sqs, batches, accepted } = batchRecorder((body) => body.includes('"n":2'));
    const client = new SettleClient({ queueUrl: 'q.fifo', deadLetterQueueUrl: 'd.fifo', tableName: 't', sqs });
    const events = [note('a', 1), note('a', 2), note('b', 1), note('a', 3), note('b', 2), note('c', 1)];

    const results = await client.sendMany(events, { concurrency: 1 });

    for (const batch of batches) expect(new Set(batch.map((entry) => entry.key)).size).toBe(batch.length);
    // Each instance's events reach SQS in order: a's and b's 2 are refused once and sent again before what follows them.
    const order = (key: string) =>
      accepted.filter((entry) => entry.key === `recorder/${key}`).map((entry) => (JSON.parse(entry.body) as { n: number }).n);
    expect(order('a')).toEqual([1, 2, 3]);
    expect(order('b')).toEqual([1, 2]);
    expect(results.map((result) => result.instanceKey)).toEqual(events.map((event) => `recorder/${event.id}`));
    expect(results.every((result) => /^\d+$/.test(result.sequenceNumber))).toBe(true);
  });

  it('still fills batches of 10 when the events belong to 10 or more instances', async () => {
    const { sqs, batches } = batchRecorder();
    const client = new SettleClient({ queueUrl: 'q.fifo', deadLetterQueueUrl: 'd.fifo', tableName: 't', sqs });
    const events = Array.from({ length: 40 }, (_, i) => note(`i${i % 20}`, Math.floor(i / 20)));

    await client.sendMany(events, { concurrency: 1 });

    expect(batches.map((batch) => batch.length)).toEqual([10, 10, 10, 10]);
  });
});
