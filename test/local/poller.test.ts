import { createHash } from 'node:crypto';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startPoller, type BatchReport, type Poller, type PollerOptions } from '../../local/poller.ts';
import { provision, type ProvisionedResources } from '../../local/provision.ts';
import { maxReceiveCount } from '../../runtime/core/resources.ts';
import { recordingLogger, startTestEmulators, uniqueNames, type TestEmulators } from '../support/emulators.ts';
import { peek, queueCounts, sendEvents } from '../support/sqs.ts';
import { deferred, waitFor } from '../support/wait-for.ts';

let emulators: TestEmulators;
const pollers: Poller[] = [];

beforeAll(async () => {
  emulators = await startTestEmulators();
});
afterEach(async () => {
  await Promise.all(pollers.splice(0).map((poller) => poller.stop()));
});
afterAll(async () => {
  await emulators.stop();
});

/** A fresh queue + DLQ + table per test, so tests never see each other's messages. */
async function freshQueue(): Promise<ProvisionedResources> {
  return provision({ sqs: emulators.clients.sqs, dynamodb: emulators.clients.dynamodb, names: uniqueNames('poller') });
}

async function poll(
  resources: ProvisionedResources,
  handler: PollerOptions['handler'],
  options: Partial<PollerOptions> = {},
): Promise<{ poller: Poller; reports: BatchReport[]; logger: ReturnType<typeof recordingLogger> }> {
  const reports: BatchReport[] = [];
  const logger = recordingLogger();
  const poller = await startPoller({
    sqs: emulators.clients.sqs,
    queueUrl: resources.queueUrl,
    handler,
    waitTimeSeconds: 1,
    onBatch: (report) => reports.push(report),
    logger,
    ...options,
  });
  pollers.push(poller);
  return { poller, reports, logger };
}

const okHandler = async (): Promise<SQSBatchResponse> => ({ batchItemFailures: [] });

describe('poller', () => {
  it('hands over batches of at most 10 records carrying the real SQS attributes and message attributes', async () => {
    // Prepare: 25 instances, one event each (fauxqs gives at most one message per group per receive).
    const resources = await freshQueue();
    const sent = await sendEvents(
      emulators.clients.sqs,
      resources.queueUrl,
      Array.from({ length: 25 }, (_, i) => ({
        group: `counter/c${i}`,
        body: JSON.stringify({ type: 'COUNT', i }),
        attributes: {
          origin: { DataType: 'String', StringValue: 'test' },
          blob: { DataType: 'Binary', BinaryValue: new Uint8Array([1, 2, 3]) },
        },
      })),
    );
    const events: SQSEvent[] = [];

    // Act
    await poll(resources, async (event) => {
      events.push(event);
      return { batchItemFailures: [] };
    });
    const records = await waitFor(() => events.flatMap((event) => event.Records).length >= 25 && events.flatMap((e) => e.Records), {
      description: '25 records handled',
    });

    // Assess
    expect(Math.max(...events.map((event) => event.Records.length))).toBeLessThanOrEqual(10);
    expect(Math.max(...events.map((event) => event.Records.length))).toBeGreaterThan(1);
    expect(records).toHaveLength(25);
    for (const record of records) {
      const original = sent.find((event) => event.messageId === record.messageId);
      expect(original).toBeDefined();
      expect(record).toEqual<SQSRecord>({
        messageId: original!.messageId,
        receiptHandle: expect.any(String),
        body: original!.body,
        attributes: {
          ApproximateReceiveCount: '1',
          SentTimestamp: expect.stringMatching(/^\d{13}$/),
          SenderId: expect.any(String),
          ApproximateFirstReceiveTimestamp: expect.stringMatching(/^\d{13}$/),
          SequenceNumber: original!.sequenceNumber,
          MessageGroupId: original!.group,
          MessageDeduplicationId: expect.any(String),
        },
        messageAttributes: {
          origin: { stringValue: 'test', stringListValues: [], binaryListValues: [], dataType: 'String' },
          blob: { binaryValue: Buffer.from([1, 2, 3]).toString('base64'), stringListValues: [], binaryListValues: [], dataType: 'Binary' },
        },
        md5OfBody: createHash('md5').update(original!.body).digest('hex'),
        md5OfMessageAttributes: expect.stringMatching(/^[0-9a-f]{32}$/),
        eventSource: 'aws:sqs',
        eventSourceARN: resources.queueArn,
        awsRegion: 'us-east-1',
      });
    }
  });

  it('deletes the records the handler succeeded with', async () => {
    const resources = await freshQueue();
    await sendEvents(emulators.clients.sqs, resources.queueUrl, [
      { group: 'counter/a', body: '{"type":"COUNT"}' },
      { group: 'counter/b', body: '{"type":"COUNT"}' },
    ]);

    const { reports } = await poll(resources, okHandler);
    await waitFor(() => reports.flatMap((report) => report.deleted).length === 2, { description: 'both records deleted' });

    expect(await queueCounts(emulators.clients.sqs, resources.queueUrl)).toEqual({ visible: 0, inFlight: 0 });
    expect(reports.every((report) => report.outcome === 'ok')).toBe(true);
  });

  it('redelivers a record reported in batchItemFailures after the visibility timeout, with ApproximateReceiveCount 2', async () => {
    // Prepare: one record fails on its first delivery, the other succeeds.
    const resources = await freshQueue();
    const [failing, succeeding] = await sendEvents(emulators.clients.sqs, resources.queueUrl, [
      { group: 'counter/fails-once', body: '{"type":"COUNT"}' },
      { group: 'counter/fine', body: '{"type":"COUNT"}' },
    ]);
    const deliveries: SQSRecord[] = [];

    // Act: a 1 s visibility timeout per receive instead of the queue's 60 s.
    const { reports } = await poll(
      resources,
      async (event) => {
        deliveries.push(...event.Records);
        const failures = event.Records.filter((r) => r.messageId === failing!.messageId && r.attributes.ApproximateReceiveCount === '1');
        return { batchItemFailures: failures.map((r) => ({ itemIdentifier: r.messageId })) };
      },
      { visibilityTimeoutSeconds: 1 },
    );
    const redelivery = await waitFor(
      () => deliveries.find((r) => r.messageId === failing!.messageId && r.attributes.ApproximateReceiveCount === '2'),
      { description: 'the failed record delivered again', timeoutMs: 10_000 },
    );

    // Assess
    expect(redelivery.attributes.SequenceNumber).toBe(failing!.sequenceNumber);
    expect(deliveries.filter((r) => r.messageId === succeeding!.messageId)).toHaveLength(1);
    await waitFor(
      async () => {
        const counts = await queueCounts(emulators.clients.sqs, resources.queueUrl);
        return counts.visible === 0 && counts.inFlight === 0;
      },
      { description: 'the queue empty once the redelivery succeeded' },
    );
    expect(reports.some((report) => report.outcome === 'partial' && report.failed.includes(failing!.messageId))).toBe(true);
  });

  it(`moves a record that keeps failing to the DLQ after maxReceiveCount (${maxReceiveCount}) receives`, async () => {
    const resources = await freshQueue();
    const [poison] = await sendEvents(emulators.clients.sqs, resources.queueUrl, [{ group: 'counter/poison', body: '{"type":"COUNT"}' }]);
    const receiveCounts: string[] = [];

    await poll(
      resources,
      async (event) => {
        receiveCounts.push(...event.Records.map((r) => r.attributes.ApproximateReceiveCount));
        return { batchItemFailures: event.Records.map((r) => ({ itemIdentifier: r.messageId })) };
      },
      { visibilityTimeoutSeconds: 0 },
    );
    const [dead] = await waitFor(() => peek(emulators.clients.sqs, resources.deadLetterQueueUrl).then((m) => m.length > 0 && m), {
      description: 'the record in the DLQ',
      timeoutMs: 10_000,
    });

    expect(receiveCounts).toEqual(['1', '2', '3', '4', '5']);
    expect(dead).toMatchObject({ MessageId: poison!.messageId, Body: poison!.body, Attributes: { MessageGroupId: 'counter/poison' } });
    expect(await queueCounts(emulators.clients.sqs, resources.queueUrl)).toEqual({ visible: 0, inFlight: 0 });
  });

  it('leaves the whole batch when the handler throws', async () => {
    const resources = await freshQueue();
    await sendEvents(emulators.clients.sqs, resources.queueUrl, [
      { group: 'counter/a', body: '{"type":"COUNT"}' },
      { group: 'counter/b', body: '{"type":"COUNT"}' },
    ]);

    const { reports, logger } = await poll(
      resources,
      async () => {
        throw new Error('boom');
      },
      { concurrency: 1 },
    );
    const [report] = await waitFor(() => reports.length > 0 && reports, { description: 'a batch handled' });

    expect(report).toMatchObject({ outcome: 'threw', deleted: [] });
    expect(report!.failed).toHaveLength(report!.event.Records.length);
    expect(logger.lines.some((line) => line.includes('the handler threw') && line.includes('boom'))).toBe(true);
    expect((await queueCounts(emulators.clients.sqs, resources.queueUrl)).inFlight).toBe(report!.event.Records.length);
  });

  it('fails the whole batch when batchItemFailures names a record that is not in it, as Lambda does', async () => {
    const resources = await freshQueue();
    await sendEvents(emulators.clients.sqs, resources.queueUrl, [{ group: 'counter/a', body: '{"type":"COUNT"}' }]);

    const { reports } = await poll(resources, async () => ({ batchItemFailures: [{ itemIdentifier: 'not-a-message-id' }] }));
    const [report] = await waitFor(() => reports.length > 0 && reports, { description: 'a batch handled' });

    expect(report).toMatchObject({ outcome: 'invalid-response', deleted: [] });
  });

  it('gives the handler a context whose getRemainingTimeInMillis counts down from the worker timeout', async () => {
    const resources = await freshQueue();
    await sendEvents(emulators.clients.sqs, resources.queueUrl, [{ group: 'counter/a', body: '{"type":"COUNT"}' }]);
    const readings: { remaining: number; at: number; requestId: string }[] = [];

    await poll(
      resources,
      async (_event, context) => {
        readings.push({ remaining: context.getRemainingTimeInMillis(), at: Date.now(), requestId: context.awsRequestId });
        await new Promise((resolve) => setImmediate(resolve));
        await waitFor(() => Date.now() > readings[0]!.at + 50, { intervalMs: 10 });
        readings.push({ remaining: context.getRemainingTimeInMillis(), at: Date.now(), requestId: context.awsRequestId });
        return { batchItemFailures: [] };
      },
      { workerTimeoutSeconds: 3 },
    );
    const [first, second] = await waitFor(() => readings.length === 2 && readings, { description: 'two readings' });

    expect(first!.remaining).toBeLessThanOrEqual(3000);
    expect(first!.remaining).toBeGreaterThan(2500);
    expect(first!.remaining - second!.remaining).toBeGreaterThanOrEqual(second!.at - first!.at - 5);
    expect(first!.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('fails the batch of a handler that runs past the worker timeout', async () => {
    const resources = await freshQueue();
    await sendEvents(emulators.clients.sqs, resources.queueUrl, [{ group: 'counter/slow', body: '{"type":"COUNT"}' }]);
    const release = deferred();

    const { reports, logger } = await poll(
      resources,
      async () => {
        await release.promise;
        return { batchItemFailures: [] };
      },
      { workerTimeoutSeconds: 1 },
    );
    const [report] = await waitFor(() => reports.length > 0 && reports, { description: 'the batch timed out' });
    release.resolve();

    expect(report).toMatchObject({ outcome: 'timed-out', deleted: [] });
    expect(logger.lines.some((line) => line.includes('timed out after 1 s'))).toBe(true);
  });

  it('runs `concurrency` poll loops, each with its own batch in flight', async () => {
    const resources = await freshQueue();
    await sendEvents(emulators.clients.sqs, resources.queueUrl, [
      { group: 'counter/a', body: '{"type":"COUNT"}' },
      { group: 'counter/b', body: '{"type":"COUNT"}' },
    ]);
    const release = deferred();
    let inFlight = 0;

    await poll(
      resources,
      async () => {
        inFlight++;
        await release.promise;
        return { batchItemFailures: [] };
      },
      { concurrency: 2, batchSize: 1 },
    );

    await waitFor(() => inFlight === 2, { description: 'two batches in flight at once' });
    release.resolve();
  });

  it('stop() waits for the batch in flight, which then is deleted', async () => {
    // Prepare: a handler held until the test releases it.
    const resources = await freshQueue();
    await sendEvents(emulators.clients.sqs, resources.queueUrl, [{ group: 'counter/held', body: '{"type":"COUNT"}' }]);
    const started = deferred();
    const release = deferred();
    let finished = false;
    const { poller, reports } = await poll(resources, async () => {
      started.resolve();
      await release.promise;
      finished = true;
      return { batchItemFailures: [] };
    });
    await started.promise;

    // Act
    let stopped = false;
    const stopping = poller.stop().then(() => (stopped = true));
    for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve));
    const stoppedWhileHeld = stopped;
    release.resolve();
    await stopping;

    // Assess
    expect(stoppedWhileHeld).toBe(false);
    expect(finished).toBe(true);
    expect(reports).toHaveLength(1);
    expect(reports[0]!.outcome).toBe('ok');
    expect(await queueCounts(emulators.clients.sqs, resources.queueUrl)).toEqual({ visible: 0, inFlight: 0 });
  });

  it('stop() ends an open 20 s long poll at once', async () => {
    const resources = await freshQueue();
    const { poller } = await poll(resources, okHandler, { waitTimeSeconds: 20 });

    const before = Date.now();
    await poller.stop();

    expect(Date.now() - before).toBeLessThan(1000);
  });

  it('rejects options outside what Lambda allows, naming each', async () => {
    const resources = await freshQueue();
    await expect(poll(resources, okHandler, { batchSize: 11, waitTimeSeconds: 21 })).rejects.toThrow(
      /batchSize must be a whole number from 1 to 10, got 11; waitTimeSeconds must be a whole number from 0 to 20, got 21/,
    );
  });
});
