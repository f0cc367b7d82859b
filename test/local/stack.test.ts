import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { startEmulators } from '../../local/emulators.ts';
import { startLocalStack, type AppliedEvent } from '../../local/stack.ts';
import { registry } from '../../machines/index.ts';
import { recordingLogger } from '../support/emulators.ts';
import { sendEvents } from '../support/sqs.ts';
import { waitFor } from '../support/wait-for.ts';

describe('local stack', () => {
  it('runs an event through the real worker: applied, reported and saved', async () => {
    // Prepare
    const applied: AppliedEvent[] = [];
    const stack = await startLocalStack({
      registry,
      onApplied: (event) => applied.push(event),
      logger: recordingLogger(),
      poller: { waitTimeSeconds: 1 },
    });
    try {
      // Act
      const [sent] = await sendEvents(stack.clients.sqs, stack.queueUrl, [{ group: 'counter/stack-1', body: '{"type":"COUNT"}' }]);
      const [event] = await waitFor(() => applied.length > 0 && applied, { description: 'the COUNT applied' });

      // Assess
      expect(event).toMatchObject({ instanceKey: 'counter/stack-1', eventType: 'COUNT', outcome: 'resolve' });
      expect(BigInt(event!.sequenceNumber)).toBe(BigInt(sent!.sequenceNumber));
      const { Item } = await stack.clients.dynamodb.send(
        new GetItemCommand({ TableName: stack.tableName, Key: { pk: { S: 'counter/stack-1' } }, ConsistentRead: true }),
      );
      expect(Item?.pk).toEqual({ S: 'counter/stack-1' });
    } finally {
      await stack.stop();
    }
  });

  it('exposes its settings as the environment and config the worker reads', async () => {
    const stack = await startLocalStack({
      handler: () => async () => ({ batchItemFailures: [] }),
      sweeper: null,
      logger: recordingLogger(),
      poller: { waitTimeSeconds: 1 },
    });
    try {
      expect(stack.env).toMatchObject({
        AWS_REGION: 'us-east-1',
        AWS_ENDPOINT_URL_SQS: stack.endpoints.sqs,
        AWS_ENDPOINT_URL_DYNAMODB: stack.endpoints.dynamodb,
        SETTLE_TABLE: 'settle-instances',
        SETTLE_QUEUE_URL: stack.queueUrl,
        SETTLE_DLQ_URL: stack.deadLetterQueueUrl,
      });
      expect(stack.config).toMatchObject({
        tableName: stack.tableName,
        queueUrl: stack.queueUrl,
        deadLetterQueueUrl: stack.deadLetterQueueUrl,
        maxReceiveCount: 5,
      });
    } finally {
      await stack.stop();
    }
  });

  it('sweeps every interval and keeps sweeping after a sweep fails', async () => {
    const logger = recordingLogger();
    let sweeps = 0;
    const stack = await startLocalStack({
      handler: () => async () => ({ batchItemFailures: [] }),
      sweeper: () => ({
        sweep: async () => {
          sweeps++;
          if (sweeps === 1) throw new Error('table unavailable');
          return { woken: 1 };
        },
      }),
      sweepIntervalMs: 20,
      logger,
      poller: { waitTimeSeconds: 1 },
    });
    try {
      await waitFor(() => sweeps >= 3, { description: 'three sweeps' });
    } finally {
      await stack.stop();
    }

    expect(logger.lines).toContainEqual(expect.stringMatching(/sweeper: sweep failed.*table unavailable/));
    expect(logger.lines).toContainEqual('info sweeper: woke 1 instance with timers due');
  });

  it('stop() frees its ports and a failed start leaves nothing running', async () => {
    const stack = await startLocalStack({
      handler: () => async () => ({ batchItemFailures: [] }),
      sweeper: null,
      logger: recordingLogger(),
      poller: { waitTimeSeconds: 1 },
    });
    const ports = { sqsPort: Number(new URL(stack.endpoints.sqs).port), dynamodbPort: Number(new URL(stack.endpoints.dynamodb).port) };
    await stack.stop();

    // The SQS port is free again, while the DynamoDB port is taken by a stand-in: the start fails …
    const standIn = await startEmulators({ dynamodbPort: ports.dynamodbPort });
    await expect(startLocalStack({ ...ports, registry, sweeper: null, logger: recordingLogger() })).rejects.toThrow(/port is in use/);
    await standIn.stop();

    // … and has released the SQS port it had taken.
    const again = await startLocalStack({
      ...ports,
      handler: () => async () => ({ batchItemFailures: [] }),
      sweeper: null,
      logger: recordingLogger(),
      poller: { waitTimeSeconds: 1 },
    });
    await again.stop();
  });
});
