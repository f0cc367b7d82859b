import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { PermanentError, RetryableError, VersionConflictError } from '../core/errors.ts';
import { encodeRecord, loadRecord, saveRecord, type SnapshotOffload, type StoredItem } from '../core/item.ts';
import { tableDefinition } from '../core/resources.ts';
import type { DueInstance, InstanceRecord, InstanceStore } from '../core/store.ts';

// Named conditions (`snapshot` and `version` are reserved words in DynamoDB expressions).
const instanceDoesNotExist = 'attribute_not_exists(pk)';
const versionIsUnchanged = '#version = :expected';

export function createDocumentClient(client = new DynamoDBClient({})): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

/**
 * The {@link InstanceStore} on DynamoDB: one item per instance, written whole under a version condition. With
 * `offload`, large snapshots go to the payload bucket and the item keeps a pointer (docs/DESIGN.md, "Large payloads").
 */
export class DynamoStore implements InstanceStore {
  constructor(
    private readonly tableName: string,
    private readonly client: DynamoDBDocumentClient = createDocumentClient(),
    private readonly offload?: SnapshotOffload,
  ) {}

  async read(pk: string): Promise<InstanceRecord | undefined> {
    const { Item } = await this.call(pk, () =>
      this.client.send(new GetCommand({ TableName: this.tableName, Key: { pk }, ConsistentRead: true })),
    );
    return Item ? loadRecord(Item as StoredItem, this.offload?.payloads) : undefined;
  }

  checkFits(record: InstanceRecord): void {
    encodeRecord(record, this.offload);
  }

  write(record: InstanceRecord, expectedVersion: number | undefined): Promise<InstanceRecord> {
    return saveRecord(record, this.offload, (item) => this.put(record.pk, item, expectedVersion));
  }

  private async put(pk: string, item: StoredItem, expectedVersion: number | undefined): Promise<void> {
    await this.call(
      pk,
      () =>
        this.client.send(
          new PutCommand({
            TableName: this.tableName,
            Item: item,
            ...(expectedVersion === undefined
              ? { ConditionExpression: instanceDoesNotExist }
              : {
                  ConditionExpression: versionIsUnchanged,
                  ExpressionAttributeNames: { '#version': 'version' },
                  ExpressionAttributeValues: { ':expected': expectedVersion },
                }),
          }),
        ),
      (error) => new VersionConflictError(pk, expectedVersion, error),
    );
  }

  async findDue(shard: string, now: number, limit: number): Promise<DueInstance[]> {
    const { partitionKey, sortKey, name } = tableDefinition.dueIndex;
    const due: DueInstance[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.call(`due shard ${shard}`, () =>
        this.client.send(
          new QueryCommand({
            TableName: this.tableName,
            IndexName: name,
            KeyConditionExpression: '#shard = :shard AND #wakeAt <= :now',
            ExpressionAttributeNames: { '#shard': partitionKey.name, '#wakeAt': sortKey.name },
            ExpressionAttributeValues: { ':shard': shard, ':now': now },
            Limit: limit - due.length,
            ExclusiveStartKey: startKey,
          }),
        ),
      );
      for (const item of page.Items ?? []) due.push({ pk: String(item.pk), wakeAt: Number(item.wakeAt) });
      startKey = page.LastEvaluatedKey;
    } while (startKey && due.length < limit);
    return due;
  }

  /** Maps SDK failures onto Settle's errors: a failed condition stays recognisable, the rest is retryable. */
  private async call<T>(subject: string, send: () => Promise<T>, onConditionFailed?: (error: unknown) => Error): Promise<T> {
    try {
      return await send();
    } catch (error) {
      const name = (error as { name?: string }).name ?? 'Error';
      if (name === 'ConditionalCheckFailedException' && onConditionFailed) throw onConditionFailed(error);
      if (name === 'ValidationException' && /size/i.test((error as Error).message)) {
        throw new PermanentError(
          'snapshot-too-large',
          `Instance ${subject} is too large for one DynamoDB item (${(error as Error).message}). ` +
            "Keep large data out of the machine's context and events: store it elsewhere and keep a reference.",
          { instanceKey: subject, cause: error },
        );
      }
      throw new RetryableError(
        'storage-unavailable',
        `DynamoDB call for ${subject} failed with ${name}: ${(error as Error).message}. It is retried; if it persists, check the table name (SETTLE_TABLE), the endpoint and IAM.`,
        { instanceKey: subject, cause: error },
      );
    }
  }
}
