/**
 * The one definition of Settle's queue, dead-letter queue and table.
 *
 * The CDK construct (`infra/`) and the local stack (`local/`) both build their
 * resources from these values, so what runs on a laptop cannot drift from what is deployed.
 * Plain data only: no SDK and no CDK in this file.
 */

/** Default names. The local stack uses them as is; the CDK stack lets CloudFormation name resources. */
export const defaultNames = {
  queue: 'settle-events.fifo',
  deadLetterQueue: 'settle-events-dlq.fifo',
  table: 'settle-instances',
  bucket: 'settle-payloads',
} as const;

/** Default worker timeout; the queue's visibility timeout is derived from it. */
export const defaultWorkerTimeoutSeconds = 30;

/** After this many receives SQS moves a record to the DLQ; the worker DLQs it itself on the last one. */
export const maxReceiveCount = 5;

/** AWS's guidance for an SQS event source: visibility timeout at least 6 × the function timeout. */
export const visibilityTimeoutFactor = 6;

export interface QueueDefinition {
  readonly fifo: true;
  readonly contentBasedDeduplication: false;
  /** High-throughput FIFO: deduplication and throughput limits apply per message group. */
  readonly deduplicationScope: 'messageGroup';
  readonly fifoThroughputLimit: 'perMessageGroupId';
  readonly visibilityTimeoutSeconds: number;
  readonly retentionPeriodSeconds: number;
  readonly receiveMessageWaitTimeSeconds: number;
  /** 256 KiB, the SQS maximum. The worker rejects larger events before they reach a machine. */
  readonly maximumMessageSizeBytes: number;
}

/** The events queue: one message group per machine instance. */
export function eventQueueDefinition(workerTimeoutSeconds = defaultWorkerTimeoutSeconds): QueueDefinition {
  if (!Number.isInteger(workerTimeoutSeconds) || workerTimeoutSeconds < 1 || workerTimeoutSeconds > 900) {
    throw new RangeError(`workerTimeoutSeconds must be a whole number from 1 to 900 (Lambda's limit), got ${workerTimeoutSeconds}`);
  }
  return {
    fifo: true,
    contentBasedDeduplication: false,
    deduplicationScope: 'messageGroup',
    fifoThroughputLimit: 'perMessageGroupId',
    visibilityTimeoutSeconds: Math.min(workerTimeoutSeconds * visibilityTimeoutFactor, 43_200),
    retentionPeriodSeconds: 4 * 24 * 3600,
    receiveMessageWaitTimeSeconds: 20,
    maximumMessageSizeBytes: 262_144,
  };
}

/** The dead-letter queue: FIFO (a FIFO queue's DLQ must be FIFO), kept for the SQS maximum of 14 days. */
export const deadLetterQueueDefinition = {
  fifo: true,
  contentBasedDeduplication: false,
  retentionPeriodSeconds: 14 * 24 * 3600,
  maximumMessageSizeBytes: 262_144,
  maxReceiveCount,
} as const;

/** The instance table: one item per instance under `pk`, a sparse index of instances with timers due, and the list index. */
export const tableDefinition = {
  partitionKey: { name: 'pk', type: 'S' },
  billingMode: 'PAY_PER_REQUEST',
  dueIndex: {
    name: 'due',
    partitionKey: { name: 'wakeShard', type: 'S' },
    sortKey: { name: 'wakeAt', type: 'N' },
    projection: 'KEYS_ONLY',
  },
  /** Due-index shards: spreads the sparse index over partitions; the sweeper queries each. */
  wakeShards: 8,
  /**
   * Instances of a machine by state and last update, for `list` (docs/DESIGN.md, "Listing"). Partitioned by
   * machine and shard, so a busy machine spreads its index writes over `shards` partitions; the client queries
   * all of them in parallel. The shard count is part of the stored layout: changing it needs every item rewritten.
   */
  listIndex: {
    name: 'list',
    partitionKey: { name: 'listShard', type: 'S' },
    sortKey: { name: 'listSort', type: 'S' },
    projection: 'INCLUDE',
    /** The summary a listing shows: everything but the snapshot, timers, history and letters. */
    nonKeyAttributes: [
      'machine',
      'states',
      'inStates',
      'status',
      'outcome',
      'tags',
      'lastSeq',
      'wakeAt',
      'machineVersion',
      'createdAt',
      'updatedAt',
    ],
    shards: 8,
  },
} as const;

/**
 * The payload bucket (docs/DESIGN.md, "Large payloads"): events too large for SQS, snapshots too large for an
 * item, and dead letters too large for the DLQ, each under its own prefix. Keys name the instance as
 * `<machine>/<encodeURIComponent(instanceId)>` (see payloadSegment).
 */
export const payloadBucketDefinition = {
  /** An event sent by a claim check: `events/<instance>/<sha256 of the body>`; a dead letter's own body: `…/letter-<hash>`. */
  eventsPrefix: 'events/',
  /** An offloaded snapshot: `snapshots/<instance>/v<item version>-<random id>.json.gz`, so racing writers never share a key. */
  snapshotsPrefix: 'snapshots/',
  /**
   * Event objects expire after this many days: longer than an event can wait in the events queue (4 days), then
   * in the DLQ (14), then back in the queue after an SQS redrive (4). `settle dlq redrive` writes a fresh object.
   */
  eventsExpireAfterDays: 30,
  /** The tag the worker puts on a snapshot object once no item points to it any more; the lifecycle rule keys on it. */
  supersededTag: { key: 'settle-superseded', value: 'true' },
  /**
   * A superseded snapshot object is removed this many days after it was tagged: every reader of the item that
   * pointed to it (a worker that lost a race, a client's `get`) has long finished by then.
   */
  supersededExpireAfterDays: 1,
  /** Unfinished multipart uploads are aborted after this many days. */
  abortIncompleteUploadAfterDays: 1,
} as const;

/** Message attributes the worker sets on a record it moves to the DLQ. */
export const deadLetterAttributes = {
  error: 'settle-error',
  reason: 'settle-reason',
  group: 'settle-group',
  sequenceNumber: 'settle-sequence-number',
  messageId: 'settle-message-id',
} as const;

/**
 * The message attribute a redriven event carries: the message id of the dead letter it came from. The worker
 * records it in the history, so a second redrive of the same letter can be refused.
 */
export const redriveAttribute = 'settle-redrive-of';

/** The runtime's own event types. The outside may not send `xstate.*` or `settle.*`. */
export const wakeEventType = 'settle.wake';

/**
 * The prefix of the stack outputs the CDK construct adds (`<prefix>QueueUrl`, …): change it to put two Settle
 * services in one stack. CloudFormation logical ids, hence output keys, are alphanumeric.
 */
export const defaultOutputPrefix = 'Settle';

/** What an output prefix may be: letters and digits only, as a CloudFormation logical id (at most 255 with the suffix). */
export const outputPrefixPattern = /^[A-Za-z0-9]{1,200}$/;

/** The stack outputs of one Settle service, by what they hold. */
export interface StackOutputKeys {
  /** The events queue's URL. */
  readonly queueUrl: string;
  /** The dead-letter queue's URL. */
  readonly deadLetterQueueUrl: string;
  /** The instance table's name. */
  readonly tableName: string;
  /** The stack's region (`AWS::Region`). */
  readonly region: string;
  /** The HTTP API's base URL, ending in `/`. Only a service with its API (the construct's default) outputs it. */
  readonly apiUrl: string;
  /** The ARN of the Secrets Manager secret whose value signs callback links. Only a service with its API outputs it. */
  readonly callbackSecretArn: string;
  /** The payload bucket's name: where large events, snapshots and dead letters go. */
  readonly bucketName: string;
}

/**
 * The keys of the stack outputs a Settle service adds, for the construct (which creates them) and for the
 * `settle` CLI and client (which read them with DescribeStacks): plain strings, no CDK import needed.
 */
export function stackOutputKeys(prefix: string = defaultOutputPrefix): StackOutputKeys {
  if (!outputPrefixPattern.test(prefix)) {
    throw new RangeError(`The output prefix must be 1 to 200 letters or digits (a CloudFormation logical id), got '${prefix}'`);
  }
  return {
    queueUrl: `${prefix}QueueUrl`,
    deadLetterQueueUrl: `${prefix}DeadLetterQueueUrl`,
    tableName: `${prefix}TableName`,
    region: `${prefix}Region`,
    apiUrl: `${prefix}ApiUrl`,
    callbackSecretArn: `${prefix}CallbackSecretArn`,
    bucketName: `${prefix}BucketName`,
  };
}
