/**
 * Creates the local stack's events queue, dead-letter queue and instance table from the one
 * shared definition (`runtime/core/resources.ts`), as the CDK stack does on AWS.
 * Idempotent: run it again and it returns the same resources; a queue found with other
 * attributes is converged to these, a table with another key or without the due or the list index is refused.
 *
 * @example
 * const { queueUrl, deadLetterQueueUrl, tableName } = await provision({ sqs, dynamodb });
 */
import {
  CreateTableCommand,
  DescribeTableCommand,
  ResourceInUseException,
  type CreateTableCommandInput,
  type DynamoDBClient,
  type GlobalSecondaryIndex,
  type TableDescription,
} from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  SetQueueAttributesCommand,
  type QueueAttributeName,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import {
  deadLetterQueueDefinition,
  defaultNames,
  eventQueueDefinition,
  tableDefinition,
  type QueueDefinition,
} from '../runtime/core/resources.ts';

/**
 * The local stack's worker timeout: the poller's `getRemainingTimeInMillis()` counts down from it,
 * and the events queue's visibility timeout is derived from it (× 6 = 60 s), as on AWS.
 */
export const localWorkerTimeoutSeconds = 10;

export interface ResourceNames {
  /** Must end in `.fifo`. */
  readonly queue: string;
  /** Must end in `.fifo`. */
  readonly deadLetterQueue: string;
  readonly table: string;
}

export interface ProvisionOptions {
  readonly sqs: SQSClient;
  readonly dynamodb: DynamoDBClient;
  /** @default localWorkerTimeoutSeconds */
  readonly workerTimeoutSeconds?: number;
  /** @default defaultNames */
  readonly names?: ResourceNames;
  /** How long to wait for the table and its index to become ACTIVE. @default 30_000 */
  readonly readyTimeoutMs?: number;
}

export interface ProvisionedResources {
  readonly queueUrl: string;
  readonly queueArn: string;
  readonly deadLetterQueueUrl: string;
  readonly deadLetterQueueArn: string;
  readonly tableName: string;
}

export async function provision(options: ProvisionOptions): Promise<ProvisionedResources> {
  const names = options.names ?? defaultNames;
  const deadLetterQueue = await ensureQueue(options.sqs, names.deadLetterQueue, deadLetterQueueAttributes());
  const queue = await ensureQueue(
    options.sqs,
    names.queue,
    eventQueueAttributes(eventQueueDefinition(options.workerTimeoutSeconds ?? localWorkerTimeoutSeconds), deadLetterQueue.arn),
  );
  await ensureTable(options.dynamodb, names.table, options.readyTimeoutMs ?? 30_000);
  return {
    queueUrl: queue.url,
    queueArn: queue.arn,
    deadLetterQueueUrl: deadLetterQueue.url,
    deadLetterQueueArn: deadLetterQueue.arn,
    tableName: names.table,
  };
}

/**
 * Creates the payload bucket (fauxqs serves S3 on the SQS port). The local S3 has no lifecycle rules and no
 * tags: superseded snapshots stay until the stack stops, which in memory is soon enough.
 */
export async function provisionBucket(s3: S3Client, name: string = defaultNames.bucket): Promise<string> {
  try {
    await s3.send(new CreateBucketCommand({ Bucket: name }));
  } catch (error) {
    const code = (error as { name?: string }).name;
    if (code !== 'BucketAlreadyOwnedByYou' && code !== 'BucketAlreadyExists') throw error;
  }
  return name;
}

type QueueAttributes = Partial<Record<QueueAttributeName, string>>;

/** The events queue's SQS attributes, redriving to `deadLetterQueueArn` after `maxReceiveCount` receives. */
export function eventQueueAttributes(definition: QueueDefinition, deadLetterQueueArn: string): QueueAttributes {
  return {
    FifoQueue: String(definition.fifo),
    ContentBasedDeduplication: String(definition.contentBasedDeduplication),
    DeduplicationScope: definition.deduplicationScope,
    FifoThroughputLimit: definition.fifoThroughputLimit,
    VisibilityTimeout: String(definition.visibilityTimeoutSeconds),
    MessageRetentionPeriod: String(definition.retentionPeriodSeconds),
    ReceiveMessageWaitTimeSeconds: String(definition.receiveMessageWaitTimeSeconds),
    MaximumMessageSize: String(definition.maximumMessageSizeBytes),
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: deadLetterQueueArn, maxReceiveCount: deadLetterQueueDefinition.maxReceiveCount }),
  };
}

export function deadLetterQueueAttributes(): QueueAttributes {
  return {
    FifoQueue: String(deadLetterQueueDefinition.fifo),
    ContentBasedDeduplication: String(deadLetterQueueDefinition.contentBasedDeduplication),
    MessageRetentionPeriod: String(deadLetterQueueDefinition.retentionPeriodSeconds),
    MaximumMessageSize: String(deadLetterQueueDefinition.maximumMessageSizeBytes),
  };
}

async function ensureQueue(sqs: SQSClient, name: string, attributes: QueueAttributes): Promise<{ url: string; arn: string }> {
  let url: string | undefined;
  try {
    ({ QueueUrl: url } = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes })));
  } catch (error) {
    // The queue exists with other attributes (e.g. another worker timeout): converge them.
    if (!isQueueExists(error)) throw error;
    ({ QueueUrl: url } = await sqs.send(new GetQueueUrlCommand({ QueueName: name })));
    await convergeQueue(sqs, name, url, attributes);
  }
  if (!url) throw new Error(`SQS returned no URL for queue ${name}.`);
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }));
  const arn = Attributes?.QueueArn;
  if (!arn) throw new Error(`SQS returned no ARN for queue ${name} (${url}).`);
  return { url, arn };
}

/** Sets the attributes that differ (only those: fauxqs refuses to set some it cannot change). */
async function convergeQueue(sqs: SQSClient, name: string, url: string | undefined, wanted: QueueAttributes): Promise<void> {
  const { Attributes: current = {} } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }));
  const differing = Object.fromEntries(
    Object.entries(wanted).filter(([key, value]) => key !== 'FifoQueue' && current[key as QueueAttributeName] !== value),
  ) as QueueAttributes;
  try {
    await sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: differing }));
  } catch (error) {
    throw new Error(
      `Queue ${name} exists with attributes other than Settle's (${Object.keys(differing).join(', ')}) and they could not be changed. Delete the queue or choose another name.`,
      { cause: error },
    );
  }
}

function isQueueExists(error: unknown): boolean {
  // AWS: QueueNameExists (JSON protocol) or QueueAlreadyExists (query-compatible code);
  // fauxqs: AWS.SimpleQueueService.QueueNameExists.
  const { name, Code } = (error ?? {}) as { name?: unknown; Code?: unknown };
  return [name, Code].some((value) => typeof value === 'string' && /QueueNameExists|QueueAlreadyExists/.test(value));
}

/** The instance table's CreateTable input, with its sparse due index and its list index. */
export function tableInput(tableName: string): CreateTableCommandInput {
  const { partitionKey, dueIndex, listIndex } = tableDefinition;
  return {
    TableName: tableName,
    BillingMode: tableDefinition.billingMode,
    AttributeDefinitions: [
      { AttributeName: partitionKey.name, AttributeType: partitionKey.type },
      { AttributeName: dueIndex.partitionKey.name, AttributeType: dueIndex.partitionKey.type },
      { AttributeName: dueIndex.sortKey.name, AttributeType: dueIndex.sortKey.type },
      { AttributeName: listIndex.partitionKey.name, AttributeType: listIndex.partitionKey.type },
      { AttributeName: listIndex.sortKey.name, AttributeType: listIndex.sortKey.type },
    ],
    KeySchema: [{ AttributeName: partitionKey.name, KeyType: 'HASH' }],
    GlobalSecondaryIndexes: [indexInput(tableDefinition.dueIndex), indexInput(tableDefinition.listIndex)],
  };
}

/** A GSI as CreateTable takes it, from its one definition in core/resources.ts. */
function indexInput(index: typeof tableDefinition.dueIndex | typeof tableDefinition.listIndex): GlobalSecondaryIndex {
  return {
    IndexName: index.name,
    KeySchema: [
      { AttributeName: index.partitionKey.name, KeyType: 'HASH' },
      { AttributeName: index.sortKey.name, KeyType: 'RANGE' },
    ],
    Projection: {
      ProjectionType: index.projection,
      ...('nonKeyAttributes' in index ? { NonKeyAttributes: [...index.nonKeyAttributes] } : {}),
    },
  };
}

/** What each index is for, to say what is missing when a table exists without it. */
const indexPurposes: readonly { readonly name: string; readonly usedBy: string }[] = [
  { name: tableDefinition.dueIndex.name, usedBy: 'the timer sweeper queries' },
  { name: tableDefinition.listIndex.name, usedBy: 'listing instances queries' },
];

async function ensureTable(dynamodb: DynamoDBClient, tableName: string, readyTimeoutMs: number): Promise<void> {
  try {
    await dynamodb.send(new CreateTableCommand(tableInput(tableName)));
  } catch (error) {
    if (!(error instanceof ResourceInUseException || (error as { name?: unknown } | null)?.name === 'ResourceInUseException')) throw error;
    const table = await waitUntilActive(dynamodb, tableName, readyTimeoutMs);
    const key = table.KeySchema?.map((k) => `${k.AttributeName}:${k.KeyType}`).join(',');
    if (key !== `${tableDefinition.partitionKey.name}:HASH`) {
      throw new Error(
        `Table ${tableName} exists with key (${key}), but Settle needs ${tableDefinition.partitionKey.name} (HASH) alone. Delete the table or choose another name.`,
      );
    }
    const present = new Set(table.GlobalSecondaryIndexes?.map((index) => index.IndexName));
    const missing = indexPurposes.filter(({ name }) => !present.has(name));
    if (missing.length > 0) {
      const what = missing.map(({ name, usedBy }) => `the '${name}' index ${usedBy}`).join(' and ');
      throw new Error(`Table ${tableName} exists without ${what}. Delete the table or choose another name.`);
    }
  }
  await waitUntilActive(dynamodb, tableName, readyTimeoutMs);
}

/** Polls DescribeTable until the table and every index are ACTIVE. */
async function waitUntilActive(dynamodb: DynamoDBClient, tableName: string, timeoutMs: number): Promise<TableDescription> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
    const indexesActive = (Table?.GlobalSecondaryIndexes ?? []).every((index) => index.IndexStatus === 'ACTIVE');
    if (Table?.TableStatus === 'ACTIVE' && indexesActive) return Table;
    if (Date.now() >= deadline) {
      throw new Error(`Table ${tableName} was not ACTIVE within ${timeoutMs} ms (status ${Table?.TableStatus ?? 'unknown'}).`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
