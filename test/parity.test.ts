import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalClients, type LocalClients } from '../local/clients.ts';
import { startEmulators, type Emulators } from '../local/emulators.ts';
import { provision, type ProvisionedResources } from '../local/provision.ts';
import { defaultWorkerTimeoutSeconds, tableDefinition } from '../runtime/core/resources.ts';
import { SettleStack } from '../infra/settle-stack.ts';

/**
 * Issue 3: the local stack creates the queue, DLQ and table with the attributes of the synthesized
 * template — compared attribute by attribute wherever the emulator reports one.
 */
type Resource = { Type: string; Properties: Record<string, unknown> };
type DeployedIndex = { IndexName: string; KeySchema: object; Projection: object };

let template: Record<string, Resource>;
let emulators: Emulators;
let clients: LocalClients;
let local: ProvisionedResources;

beforeAll(async () => {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  template = Template.fromStack(new SettleStack(app, 'SettleStack')).toJSON().Resources as Record<string, Resource>;
  emulators = await startEmulators();
  clients = createLocalClients(emulators);
  // The deployed default worker timeout, so that the derived visibility timeout is comparable too.
  local = await provision({ sqs: clients.sqs, dynamodb: clients.dynamodb, workerTimeoutSeconds: defaultWorkerTimeoutSeconds });
}, 60_000);

afterAll(async () => {
  clients?.destroy();
  await emulators?.stop();
});

function only(type: string, match: (properties: Record<string, unknown>) => boolean): Record<string, unknown> {
  const found = Object.values(template).filter((resource) => resource.Type === type && match(resource.Properties));
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
  return found[0]?.Properties ?? {};
}

/** Template properties whose SQS attribute the emulator reports, as (name, template value, local value). */
async function queuePairs(queueUrl: string, properties: Record<string, unknown>): Promise<[string, string, string][]> {
  const { Attributes = {} } = await clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['All'] }));
  const pairs: [string, string, string][] = [];
  for (const [name, value] of Object.entries(properties)) {
    if (typeof value === 'object') continue; // references and policies are compared separately
    const reported = (Attributes as Record<string, string | undefined>)[name];
    if (reported !== undefined) pairs.push([name, String(value), reported]);
  }
  return pairs;
}

describe('local stack parity with the synthesized template', () => {
  it('creates the events queue with the same attributes', async () => {
    const properties = only('AWS::SQS::Queue', (p) => p.RedrivePolicy !== undefined);

    const pairs = await queuePairs(local.queueUrl, properties);

    expect(pairs.map(([name]) => name)).toEqual(
      expect.arrayContaining(['FifoQueue', 'ContentBasedDeduplication', 'VisibilityTimeout', 'MessageRetentionPeriod']),
    );
    for (const [name, deployed, emulated] of pairs) expect(`${name}=${emulated}`).toBe(`${name}=${deployed}`);
    const { Attributes = {} } = await clients.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: local.queueUrl, AttributeNames: ['RedrivePolicy'] }),
    );
    expect(JSON.parse(Attributes.RedrivePolicy ?? '{}').maxReceiveCount).toBe(
      (properties.RedrivePolicy as { maxReceiveCount: number }).maxReceiveCount,
    );
  });

  it('creates the dead-letter queue with the same attributes', async () => {
    const properties = only('AWS::SQS::Queue', (p) => p.RedrivePolicy === undefined);

    const pairs = await queuePairs(local.deadLetterQueueUrl, properties);

    expect(pairs.map(([name]) => name)).toEqual(expect.arrayContaining(['FifoQueue', 'MessageRetentionPeriod']));
    for (const [name, deployed, emulated] of pairs) expect(`${name}=${emulated}`).toBe(`${name}=${deployed}`);
  });

  it('creates the table with the same key, billing mode and attribute definitions', async () => {
    const properties = only('AWS::DynamoDB::Table', () => true);

    const { Table } = await clients.dynamodb.send(new DescribeTableCommand({ TableName: local.tableName }));

    expect(Table?.KeySchema).toEqual(properties.KeySchema);
    expect(new Set(Table?.AttributeDefinitions?.map((d) => JSON.stringify(d)))).toEqual(
      new Set((properties.AttributeDefinitions as object[]).map((d) => JSON.stringify(d))),
    );
    expect(Table?.BillingModeSummary?.BillingMode ?? 'PAY_PER_REQUEST').toBe(properties.BillingMode);
    expect(Table?.GlobalSecondaryIndexes?.map((index) => index.IndexName).sort()).toEqual(
      (properties.GlobalSecondaryIndexes as { IndexName: string }[]).map((index) => index.IndexName).sort(),
    );
  });

  it.each([tableDefinition.dueIndex.name, tableDefinition.listIndex.name])(
    "creates the '%s' index with the same key schema and projection",
    async (name) => {
      const properties = only('AWS::DynamoDB::Table', () => true);
      const deployed = (properties.GlobalSecondaryIndexes as DeployedIndex[]).find((index) => index.IndexName === name);

      const { Table } = await clients.dynamodb.send(new DescribeTableCommand({ TableName: local.tableName }));
      const emulated = Table?.GlobalSecondaryIndexes?.find((index) => index.IndexName === name);

      expect(deployed, `the template has no '${name}' index`).toBeDefined();
      expect(emulated?.KeySchema).toEqual(deployed?.KeySchema);
      expect(emulated?.Projection).toEqual(deployed?.Projection);
    },
  );
});
