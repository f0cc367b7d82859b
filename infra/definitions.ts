import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import {
  AttributeType,
  BillingMode,
  type GlobalSecondaryIndexProps,
  ProjectionType,
  TableEncryption,
  type TableProps,
} from 'aws-cdk-lib/aws-dynamodb';
import {
  BlockPublicAccess,
  BucketEncryption,
  type BucketProps,
  type IBucket,
  type LifecycleRule,
  ObjectOwnership,
} from 'aws-cdk-lib/aws-s3';
import { DeduplicationScope, FifoThroughputLimit, type IQueue, QueueEncryption, type QueueProps } from 'aws-cdk-lib/aws-sqs';
import {
  deadLetterQueueDefinition,
  eventQueueDefinition,
  payloadBucketDefinition,
  type QueueDefinition,
  tableDefinition,
} from '../runtime/core/resources.ts';

/**
 * Translates the shared plain-data definitions (`runtime/core/resources.ts`) into CDK props.
 * Every queue, table and payload bucket attribute comes from there, so the local stack and AWS cannot drift;
 * the lookup tables below make the compiler reject a definition value CDK cannot express.
 */

const deduplicationScopes: Record<QueueDefinition['deduplicationScope'], DeduplicationScope> = {
  messageGroup: DeduplicationScope.MESSAGE_GROUP,
};

const fifoThroughputLimits: Record<QueueDefinition['fifoThroughputLimit'], FifoThroughputLimit> = {
  perMessageGroupId: FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
};

const attributeTypes: Record<'S' | 'N' | 'B', AttributeType> = {
  S: AttributeType.STRING,
  N: AttributeType.NUMBER,
  B: AttributeType.BINARY,
};

const billingModes: Record<typeof tableDefinition.billingMode, BillingMode> = {
  PAY_PER_REQUEST: BillingMode.PAY_PER_REQUEST,
};

const projections: Record<IndexDefinition['projection'], ProjectionType> = {
  KEYS_ONLY: ProjectionType.KEYS_ONLY,
  INCLUDE: ProjectionType.INCLUDE,
};

/*
 * Encryption at rest, both queues: SQS-managed SSE rather than KMS. Every producer (the AWS CLI,
 * the sweeper, the worker writing to the DLQ, a user's own services) can send without a KMS key
 * grant, the DLQ redrive works without key policies, and it costs nothing per request. A
 * customer-managed key buys key-policy control and CloudTrail records per decrypt, which Settle's
 * event payloads do not call for; a team that needs it can replace the queues' encryption.
 */
const queueEncryption = QueueEncryption.SQS_MANAGED;

/** The events queue: high-throughput FIFO, one message group per instance, redrive to the DLQ. */
export function eventQueueProps(workerTimeoutSeconds: number, deadLetterQueue: IQueue): QueueProps {
  const definition = eventQueueDefinition(workerTimeoutSeconds);
  return {
    fifo: definition.fifo,
    contentBasedDeduplication: definition.contentBasedDeduplication,
    deduplicationScope: deduplicationScopes[definition.deduplicationScope],
    fifoThroughputLimit: fifoThroughputLimits[definition.fifoThroughputLimit],
    visibilityTimeout: Duration.seconds(definition.visibilityTimeoutSeconds),
    retentionPeriod: Duration.seconds(definition.retentionPeriodSeconds),
    receiveMessageWaitTime: Duration.seconds(definition.receiveMessageWaitTimeSeconds),
    maxMessageSizeBytes: definition.maximumMessageSizeBytes,
    encryption: queueEncryption,
    enforceSSL: true,
    deadLetterQueue: { queue: deadLetterQueue, maxReceiveCount: deadLetterQueueDefinition.maxReceiveCount },
  };
}

/** The dead-letter queue: FIFO, kept for the SQS maximum of 14 days. */
export function deadLetterQueueProps(): QueueProps {
  return {
    fifo: deadLetterQueueDefinition.fifo,
    contentBasedDeduplication: deadLetterQueueDefinition.contentBasedDeduplication,
    retentionPeriod: Duration.seconds(deadLetterQueueDefinition.retentionPeriodSeconds),
    maxMessageSizeBytes: deadLetterQueueDefinition.maximumMessageSizeBytes,
    encryption: queueEncryption,
    enforceSSL: true,
  };
}

/** The instance table: on-demand, `pk`, point-in-time recovery. */
export function tableProps(removalPolicy: RemovalPolicy): TableProps {
  return {
    partitionKey: {
      name: tableDefinition.partitionKey.name,
      type: attributeTypes[tableDefinition.partitionKey.type],
    },
    billingMode: billingModes[tableDefinition.billingMode],
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    /*
     * AWS-managed KMS key (aws/dynamodb): encryption at rest shows in the template and key use is
     * logged in CloudTrail, with no key to rotate, pay a monthly fee for, or grant to the functions.
     * A customer-managed key would add cross-account control that a single-account service does not use.
     */
    encryption: TableEncryption.AWS_MANAGED,
    removalPolicy,
  };
}

type IndexDefinition = typeof tableDefinition.dueIndex | typeof tableDefinition.listIndex;

function indexProps(index: IndexDefinition): GlobalSecondaryIndexProps {
  return {
    indexName: index.name,
    partitionKey: { name: index.partitionKey.name, type: attributeTypes[index.partitionKey.type] },
    sortKey: { name: index.sortKey.name, type: attributeTypes[index.sortKey.type] },
    projectionType: projections[index.projection],
    ...('nonKeyAttributes' in index ? { nonKeyAttributes: [...index.nonKeyAttributes] } : {}),
  };
}

/** The sparse due index: only instances with a pending timer carry `wakeShard` + `wakeAt`. */
export function dueIndexProps(): GlobalSecondaryIndexProps {
  return indexProps(tableDefinition.dueIndex);
}

/**
 * The list index: instances of a machine by top-level state and last update, sharded by `listShard`, with the
 * summary attributes a listing shows projected (everything but the snapshot, timers, history and letters).
 */
export function listIndexProps(): GlobalSecondaryIndexProps {
  return indexProps(tableDefinition.listIndex);
}

/*
 * Both buckets, the payload bucket and its access-log bucket: private (every public access block on, the ACLs
 * disabled so that the bucket owner owns every object), reachable over TLS 1.2 or later only, and encrypted at rest
 * with S3-managed keys (SSE-S3), like the queues' SQS-managed SSE: no key to grant to the functions, the CLI or a
 * user's own services, and no KMS request per object. SSE-S3 is also the only default encryption an access-log
 * destination may have. Not versioned: every object is written once under a key of its own (a content hash or a
 * random id) and never overwritten, and on a versioned bucket an expired or deleted object would linger as a
 * noncurrent version the lifecycle rules below do not remove.
 */
const privateBucketProps = {
  blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
  objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
  encryption: BucketEncryption.S3_MANAGED,
  enforceSSL: true,
  minimumTLSVersion: 1.2,
  versioned: false,
} as const satisfies BucketProps;

/**
 * The payload bucket's lifecycle, from the shared definition: event objects (claim checks and large dead letters)
 * expire; a snapshot object expires only once the worker has tagged it superseded; unfinished multipart uploads are
 * aborted. No rule expires an untagged snapshot: it may be the live snapshot of an instance that waits for months.
 */
export function payloadLifecycleRules(): LifecycleRule[] {
  const { eventsPrefix, snapshotsPrefix, supersededTag } = payloadBucketDefinition;
  return [
    {
      id: 'ExpireEvents',
      prefix: eventsPrefix,
      expiration: Duration.days(payloadBucketDefinition.eventsExpireAfterDays),
    },
    {
      id: 'ExpireSupersededSnapshots',
      prefix: snapshotsPrefix,
      tagFilters: { [supersededTag.key]: supersededTag.value },
      expiration: Duration.days(payloadBucketDefinition.supersededExpireAfterDays),
    },
    {
      // Expires nothing: a multipart upload that was never completed is no object yet.
      id: 'AbortIncompleteUploads',
      abortIncompleteMultipartUploadAfter: Duration.days(payloadBucketDefinition.abortIncompleteUploadAfterDays),
    },
  ];
}

/** The payload bucket: private, TLS only, SSE-S3, its lifecycle rules, server access logs to `accessLogs`. */
export function payloadBucketProps(removalPolicy: RemovalPolicy, accessLogs: IBucket): BucketProps {
  return {
    ...privateBucketProps,
    lifecycleRules: payloadLifecycleRules(),
    serverAccessLogsBucket: accessLogs,
    removalPolicy,
  };
}

/** How long the payload bucket's server access logs are kept. */
export const accessLogRetentionDays = 90;

/** The access-log bucket: private, TLS only, SSE-S3, every log object expired after {@link accessLogRetentionDays}. */
export function accessLogBucketProps(removalPolicy: RemovalPolicy): BucketProps {
  return {
    ...privateBucketProps,
    lifecycleRules: [{ id: 'ExpireAccessLogs', expiration: Duration.days(accessLogRetentionDays) }],
    removalPolicy,
  };
}
