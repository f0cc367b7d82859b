import { CreateTableCommand, DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { CreateQueueCommand, GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localWorkerTimeoutSeconds, provision, tableInput } from '../../local/provision.ts';
import {
  deadLetterQueueDefinition,
  defaultNames,
  eventQueueDefinition,
  maxReceiveCount,
  tableDefinition,
} from '../../runtime/core/resources.ts';
import { startTestEmulators, uniqueNames, type TestEmulators } from '../support/emulators.ts';

let emulators: TestEmulators;

beforeAll(async () => {
  emulators = await startTestEmulators();
});
afterAll(async () => {
  await emulators.stop();
});

async function queueAttributes(queueUrl: string): Promise<Record<string, string>> {
  const { Attributes = {} } = await emulators.clients.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['All'] }),
  );
  return Attributes;
}

async function describeTable(tableName: string) {
  const { Table } = await emulators.clients.dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
  return Table!;
}

const run = (options: Partial<Parameters<typeof provision>[0]> = {}) =>
  provision({ sqs: emulators.clients.sqs, dynamodb: emulators.clients.dynamodb, ...options });

describe('provision', () => {
  it('creates the events queue, DLQ and table whose attributes read back equal resources.ts', async () => {
    const resources = await run();

    const events = eventQueueDefinition(localWorkerTimeoutSeconds);
    expect(resources.queueUrl).toBe(`${emulators.sqsEndpoint}/000000000000/${defaultNames.queue}`);
    expect(resources.deadLetterQueueUrl).toBe(`${emulators.sqsEndpoint}/000000000000/${defaultNames.deadLetterQueue}`);
    expect(resources.tableName).toBe(defaultNames.table);
    expect(await queueAttributes(resources.queueUrl)).toMatchObject({
      QueueArn: resources.queueArn,
      FifoQueue: 'true',
      ContentBasedDeduplication: String(events.contentBasedDeduplication),
      DeduplicationScope: events.deduplicationScope,
      FifoThroughputLimit: events.fifoThroughputLimit,
      VisibilityTimeout: String(events.visibilityTimeoutSeconds),
      MessageRetentionPeriod: String(events.retentionPeriodSeconds),
      ReceiveMessageWaitTimeSeconds: String(events.receiveMessageWaitTimeSeconds),
      MaximumMessageSize: String(events.maximumMessageSizeBytes),
    });
    expect(JSON.parse((await queueAttributes(resources.queueUrl)).RedrivePolicy!)).toEqual({
      deadLetterTargetArn: resources.deadLetterQueueArn,
      maxReceiveCount,
    });
    expect(await queueAttributes(resources.deadLetterQueueUrl)).toMatchObject({
      QueueArn: resources.deadLetterQueueArn,
      FifoQueue: String(deadLetterQueueDefinition.fifo),
      ContentBasedDeduplication: String(deadLetterQueueDefinition.contentBasedDeduplication),
      MessageRetentionPeriod: String(deadLetterQueueDefinition.retentionPeriodSeconds),
      MaximumMessageSize: String(deadLetterQueueDefinition.maximumMessageSizeBytes),
    });

    const table = await describeTable(resources.tableName);
    expect(table.TableStatus).toBe('ACTIVE');
    expect(table.KeySchema).toEqual([{ AttributeName: tableDefinition.partitionKey.name, KeyType: 'HASH' }]);
    expect(table.BillingModeSummary?.BillingMode).toBe(tableDefinition.billingMode);
    expect(table.AttributeDefinitions).toEqual(
      expect.arrayContaining([
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: tableDefinition.dueIndex.partitionKey.name, AttributeType: tableDefinition.dueIndex.partitionKey.type },
        { AttributeName: tableDefinition.dueIndex.sortKey.name, AttributeType: tableDefinition.dueIndex.sortKey.type },
        { AttributeName: tableDefinition.listIndex.partitionKey.name, AttributeType: tableDefinition.listIndex.partitionKey.type },
        { AttributeName: tableDefinition.listIndex.sortKey.name, AttributeType: tableDefinition.listIndex.sortKey.type },
      ]),
    );
    expect(table.AttributeDefinitions).toHaveLength(5);
    const byName = (name: string) => table.GlobalSecondaryIndexes?.find((index) => index.IndexName === name);
    expect(table.GlobalSecondaryIndexes).toHaveLength(2);
    expect(byName(tableDefinition.dueIndex.name)).toMatchObject({
      IndexStatus: 'ACTIVE',
      KeySchema: [
        { AttributeName: tableDefinition.dueIndex.partitionKey.name, KeyType: 'HASH' },
        { AttributeName: tableDefinition.dueIndex.sortKey.name, KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: tableDefinition.dueIndex.projection },
    });
    expect(byName(tableDefinition.listIndex.name)).toMatchObject({
      IndexStatus: 'ACTIVE',
      KeySchema: [
        { AttributeName: tableDefinition.listIndex.partitionKey.name, KeyType: 'HASH' },
        { AttributeName: tableDefinition.listIndex.sortKey.name, KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: [...tableDefinition.listIndex.nonKeyAttributes] },
    });
  });

  it('builds the CreateTable input from the shared definition, both indexes included', () => {
    const input = tableInput('t');
    const { dueIndex, listIndex } = tableDefinition;

    expect(input.GlobalSecondaryIndexes?.map((index) => index.IndexName)).toEqual([dueIndex.name, listIndex.name]);
    expect(input.GlobalSecondaryIndexes?.[1]?.Projection).toEqual({
      ProjectionType: listIndex.projection,
      NonKeyAttributes: [...listIndex.nonKeyAttributes],
    });
    // Every key attribute is defined, and nothing else (DynamoDB refuses unused attribute definitions).
    const keyNames = [input.KeySchema, ...(input.GlobalSecondaryIndexes ?? []).map((index) => index.KeySchema)]
      .flatMap((schema) => schema ?? [])
      .map((key) => key.AttributeName)
      .sort();
    expect(input.AttributeDefinitions?.map((definition) => definition.AttributeName).sort()).toEqual(keyNames);
  });

  it('is idempotent: a second run returns the same resources and leaves their attributes as they were', async () => {
    const names = uniqueNames('again');
    const first = await run({ names });
    const attributesBefore = await queueAttributes(first.queueUrl);

    const second = await run({ names });

    expect(second).toEqual(first);
    const { LastModifiedTimestamp: _a, ...before } = attributesBefore;
    const { LastModifiedTimestamp: _b, ...after } = await queueAttributes(second.queueUrl);
    expect(after).toEqual(before);
    expect((await describeTable(names.table)).GlobalSecondaryIndexes).toHaveLength(2);
  });

  it('converges a queue that exists with another visibility timeout instead of failing', async () => {
    // CreateQueue with different attributes fails with QueueNameExists (QueueAlreadyExists on AWS).
    // fauxqs cannot change DeduplicationScope / FifoThroughputLimit later, so they match here.
    const names = uniqueNames('converge');
    await emulators.clients.sqs.send(
      new CreateQueueCommand({
        QueueName: names.queue,
        Attributes: {
          FifoQueue: 'true',
          VisibilityTimeout: '5',
          DeduplicationScope: 'messageGroup',
          FifoThroughputLimit: 'perMessageGroupId',
        },
      }),
    );

    const resources = await run({ names, workerTimeoutSeconds: 20 });

    expect((await queueAttributes(resources.queueUrl)).VisibilityTimeout).toBe(String(eventQueueDefinition(20).visibilityTimeoutSeconds));
    expect((await queueAttributes(resources.queueUrl)).RedrivePolicy).toContain(resources.deadLetterQueueArn);
  });

  it('refuses a table that exists without the due index, naming the fix', async () => {
    const names = uniqueNames('index');
    const { GlobalSecondaryIndexes: _none, ...withoutIndex } = tableInput(names.table);
    await emulators.clients.dynamodb.send(
      new CreateTableCommand({ ...withoutIndex, AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }] }),
    );

    await expect(run({ names })).rejects.toThrow(
      /exists without the 'due' index the timer sweeper queries and the 'list' index listing instances queries\. Delete the table or choose another name/,
    );
  });

  it('refuses a table that exists with the due index but without the list index, naming the fix', async () => {
    const names = uniqueNames('list');
    const full = tableInput(names.table);
    const dueOnly = full.GlobalSecondaryIndexes?.filter((index) => index.IndexName === tableDefinition.dueIndex.name) ?? [];
    const { listIndex } = tableDefinition;
    await emulators.clients.dynamodb.send(
      new CreateTableCommand({
        ...full,
        GlobalSecondaryIndexes: dueOnly,
        AttributeDefinitions: full.AttributeDefinitions?.filter(
          (definition) => definition.AttributeName !== listIndex.partitionKey.name && definition.AttributeName !== listIndex.sortKey.name,
        ),
      }),
    );

    const attempt = run({ names });

    await expect(attempt).rejects.toThrow(
      /exists without the 'list' index listing instances queries\. Delete the table or choose another name/,
    );
    await expect(attempt).rejects.not.toThrow(/'due'/);
  });

  it('refuses a table with another key, naming the fix', async () => {
    const names = uniqueNames('key');
    await emulators.clients.dynamodb.send(
      new CreateTableCommand({
        TableName: names.table,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      }),
    );

    await expect(run({ names })).rejects.toThrow(/exists with key \(id:HASH\).*Delete the table or choose another name/);
  });
});
