/**
 * The worker as a Lambda handler over an SQS FIFO event source with `reportBatchItemFailures`: the
 * worker core over DynamoDB and the SQS dead-letter queue.
 *
 * @example
 * // src/worker.ts, given to SettleService as `workerEntry`:
 * export const handler = lambdaHandler(registry);
 * // The local stack runs createWorkerHandler(...) behind a poller that behaves like Lambda's.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { configFromEnvironment, defaults, type SettleConfig } from '../core/config.ts';
import type { DeadLetterQueue } from '../core/dead-letters.ts';
import type { Logger as CoreLogger } from '../core/logger.ts';
import { processBatch, type AppliedEvent, type WorkerCore } from '../core/process-batch.ts';
import type { PayloadStore } from '../core/payloads.ts';
import type { MachineRegistry } from '../core/registry.ts';
import type { InstanceStore } from '../core/store.ts';
import { WarmSessions } from '../core/warm-sessions.ts';
import { DynamoStore, createDocumentClient } from './dynamo-store.ts';
import { powertoolsLogger } from './powertools.ts';
import { S3PayloadStore } from './s3-payloads.ts';
import { SqsDeadLetterQueue } from './sqs-dead-letters.ts';

export type WorkerContext = Pick<Context, 'getRemainingTimeInMillis' | 'awsRequestId'>;
export type WorkerHandler = (event: SQSEvent, context: WorkerContext) => Promise<SQSBatchResponse>;
export type { AppliedEvent };

export interface WorkerOptions {
  readonly config: SettleConfig;
  /** The machines this worker runs. */
  readonly registry: MachineRegistry;
  /** @default a client from the SDK's standard settings, made on the first dead letter */
  readonly sqs?: SQSClient;
  /** @default a client from the SDK's standard settings */
  readonly dynamo?: DynamoDBDocumentClient;
  /** @default DynamoStore on `config.tableName` */
  readonly store?: InstanceStore;
  /** @default the SQS queue at `config.deadLetterQueueUrl` */
  readonly deadLetters?: DeadLetterQueue;
  /** The payload bucket (large events, snapshots, dead letters). @default S3 at `config.bucketName`, none without it */
  readonly payloads?: PayloadStore;
  /** @default Date.now */
  readonly now?: () => number;
  readonly onApplied?: WorkerCore['onApplied'];
  readonly onDeadLettered?: WorkerCore['onDeadLettered'];
  /** @default silent */
  readonly logger?: CoreLogger;
  /** Powertools metrics, flushed after each batch. @default none */
  readonly metrics?: Metrics;
}

export function createWorkerHandler(options: WorkerOptions): WorkerHandler {
  const { config, metrics } = options;
  const payloads = options.payloads ?? (config.bucketName ? new S3PayloadStore(config.bucketName) : undefined);
  const offload = payloads && { payloads, aboveBytes: config.snapshotOffloadBytes, logger: options.logger };
  const core: WorkerCore = {
    registry: options.registry,
    store: options.store ?? new DynamoStore(config.tableName, options.dynamo ?? createDocumentClient(), offload),
    deadLetters: options.deadLetters ?? new SqsDeadLetterQueue(config.deadLetterQueueUrl, options.sqs, payloads),
    payloads,
    now: options.now ?? Date.now,
    maxReceiveCount: config.maxReceiveCount,
    wakeShards: config.wakeShards,
    historyLimit: config.historyLimit,
    eventTimeoutMs: config.eventTimeoutMs,
    warm: new WarmSessions({ maxInstances: config.warmInstances, maxSnapshotBytes: defaults.warmSnapshotBytes }),
    logger: options.logger,
    onApplied: (event) => {
      metrics?.addMetric(event.outcome === 'ignored' ? 'EventsIgnored' : 'EventsApplied', MetricUnit.Count, 1);
      options.onApplied?.(event);
    },
    onDeadLettered: (letter) => {
      metrics?.addMetric('EventsDeadLettered', MetricUnit.Count, 1);
      options.logger?.error('Event moved to the dead-letter queue', {
        messageId: letter.messageId,
        group: letter.groupId,
        sequenceNumber: letter.sequenceNumber,
        code: letter.error.code,
        reason: letter.error.message,
      });
      options.onDeadLettered?.(letter);
    },
  };
  return async (event, context) => {
    try {
      const response = await processBatch(event.Records, core, () =>
        Math.max(0, context.getRemainingTimeInMillis() - config.settleMarginMs),
      );
      metrics?.addMetric('RecordsRetried', MetricUnit.Count, response.batchItemFailures.length);
      return response;
    } finally {
      metrics?.publishStoredMetrics();
    }
  };
}

/**
 * The worker of a Lambda over `registry`: settings from the environment, Powertools logs and metrics, clients
 * made once per Lambda instance on first use. `lambdaHandler` (api/lambda.ts) serves it and the HTTP API.
 */
export function workerFromEnvironment(registry: MachineRegistry): WorkerHandler {
  let handle: WorkerHandler | undefined;
  return (event, context) => {
    handle ??= createWorkerHandler({
      config: configFromEnvironment(),
      registry,
      logger: powertoolsLogger(new Logger({ serviceName: 'settle' })),
      metrics: new Metrics({ namespace: 'Settle', serviceName: 'settle' }),
    });
    return handle(event, context);
  };
}
