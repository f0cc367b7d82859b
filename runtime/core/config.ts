import { maxReceiveCount, tableDefinition } from './resources.ts';

/** The one source of each runtime default; the environment (below) and the worker core both read these. */
export const defaults = {
  /** Events kept in each instance's `history`. */
  historyLimit: 20,
  /** Lambda time kept back from the settle budget for the write and the dead letters. */
  settleMarginMs: 2000,
  /**
   * The most one event may take to settle. A machine that hangs on one event then costs that event alone:
   * the events behind it in its batch still get their time.
   */
  eventTimeoutMs: 10_000,
  /** Re-reads after a version conflict before the group is left to SQS to retry. */
  conflictRetries: 2,
  /**
   * Snapshots whose gzipped JSON is larger go to the payload bucket, the item keeping a pointer: DynamoDB bills a
   * write unit per KB on every save, S3 a flat price per object (docs/PERFORMANCE.md, "Large payloads").
   */
  snapshotOffloadBytes: 64 * 1024,
  /** Events larger than this are sent by claim check: the body to the payload bucket, a pointer to the queue. */
  eventOffloadBytes: 200 * 1024,
  /**
   * Instances a warm worker keeps live between batches, so that the next event of one it saved last skips the
   * restore (core/warm-sessions.ts). Each holds its live actor: ≈ 6–9 KB of heap for the example machines (1,000
   * under 10 MB), a few times its snapshot's JSON for larger contexts, which {@link defaults.warmSnapshotBytes} bounds.
   */
  warmInstances: 1000,
  /** Instances whose snapshot's JSON may be larger than this are never kept live: restoring them is cheap next to reading them. */
  warmSnapshotBytes: 16 * 1024,
} as const;

/**
 * Settle's settings, read from the environment once per Lambda instance.
 *
 * Endpoints are never configured here: the AWS SDK reads its standard settings
 * (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_SQS`, `AWS_ENDPOINT_URL_DYNAMODB`, `AWS_REGION`), so the same
 * code reaches AWS, LocalStack or the local stack.
 */
export interface SettleConfig {
  /** `SETTLE_TABLE`: the instance table's name. */
  readonly tableName: string;
  /** `SETTLE_DLQ_URL`: where permanent failures go, with their reason. The worker's; empty for the sweeper. */
  readonly deadLetterQueueUrl: string;
  /** `SETTLE_QUEUE_URL`: the events queue; the sweeper sends `settle.wake` to it. */
  readonly queueUrl: string | undefined;
  /** `SETTLE_MAX_RECEIVE_COUNT`: must equal the queue's redrive `maxReceiveCount`. @default 5 */
  readonly maxReceiveCount: number;
  /** `SETTLE_MARGIN_MS`: Lambda time kept back from the settle budget for the write and the DLQ. @default 2000 */
  readonly settleMarginMs: number;
  /**
   * `SETTLE_EVENT_TIMEOUT_MS`: the most one event may take to settle (never more than the Lambda time left
   * less the margin). A hanging event fails alone; those behind it keep their time. @default 10000
   */
  readonly eventTimeoutMs: number;
  /** `SETTLE_WAKE_SHARDS`: shards of the due index. @default 8 */
  readonly wakeShards: number;
  /**
   * `SETTLE_HISTORY_LIMIT`: events kept in each instance's `history`. Each entry is ≈ 70 bytes of the item,
   * and DynamoDB bills a write unit per KB: 5 keeps the example items within one unit. @default 20
   */
  readonly historyLimit: number;
  /** `SETTLE_BUCKET`: the payload bucket; without it large events are refused and snapshots must fit the item. */
  readonly bucketName: string | undefined;
  /** `SETTLE_SNAPSHOT_OFFLOAD_BYTES`: snapshots larger than this (gzipped) go to the bucket. @default 65536 */
  readonly snapshotOffloadBytes: number;
  /** `SETTLE_WARM_INSTANCES`: instances a warm worker keeps live between batches (0: none). @default 1000 */
  readonly warmInstances: number;
}

export const environmentVariables = {
  tableName: 'SETTLE_TABLE',
  deadLetterQueueUrl: 'SETTLE_DLQ_URL',
  queueUrl: 'SETTLE_QUEUE_URL',
  maxReceiveCount: 'SETTLE_MAX_RECEIVE_COUNT',
  settleMarginMs: 'SETTLE_MARGIN_MS',
  eventTimeoutMs: 'SETTLE_EVENT_TIMEOUT_MS',
  wakeShards: 'SETTLE_WAKE_SHARDS',
  historyLimit: 'SETTLE_HISTORY_LIMIT',
  /** The Secrets Manager secret (ARN) whose value signs callback links: the API's and the worker's, on AWS. */
  callbackSecretArn: 'SETTLE_CALLBACK_SECRET_ARN',
  /** The callback signing key itself: the local stack's (no Secrets Manager there). */
  callbackKey: 'SETTLE_CALLBACK_KEY',
  /** The HTTP API's base URL, for links a machine makes with `callbackUrl`. */
  apiUrl: 'SETTLE_API_URL',
  /** The payload bucket's name: large events, snapshots and dead letters (docs/DESIGN.md, "Large payloads"). */
  bucketName: 'SETTLE_BUCKET',
  /** Snapshots whose gzipped JSON is larger than this many bytes go to the payload bucket. */
  snapshotOffloadBytes: 'SETTLE_SNAPSHOT_OFFLOAD_BYTES',
  /** Instances a warm worker keeps live between batches (0: every batch restores from the item). */
  warmInstances: 'SETTLE_WARM_INSTANCES',
} as const;

/** Which function reads the settings: each needs its own queue URL, and only that one. */
export type SettleRole = 'worker' | 'sweeper' | 'api';

/** Reads and checks every setting `role` needs, and throws once naming every problem. */
export function configFromEnvironment(env: NodeJS.ProcessEnv = process.env, role: SettleRole = 'worker'): SettleConfig {
  const problems: string[] = [];
  const read = (name: string, isRequired: boolean): string => {
    const value = env[name]?.trim();
    if (!value && isRequired) problems.push(`${name} is not set`);
    return value ?? '';
  };
  const wholeNumber = (name: string, fallback: number, min: number): number => {
    const raw = env[name]?.trim();
    if (!raw) return fallback;
    const value = /^\d+$/.test(raw) ? Number(raw) : Number.NaN; // decimal digits only: not 0x10, 1e3 or 2.0
    if (!Number.isSafeInteger(value) || value < min) {
      problems.push(`${name} must be a whole number ≥ ${min}, got '${raw}'`);
      return fallback;
    }
    return value;
  };

  const config: SettleConfig = {
    tableName: read(environmentVariables.tableName, true),
    deadLetterQueueUrl: read(environmentVariables.deadLetterQueueUrl, role === 'worker'),
    queueUrl: read(environmentVariables.queueUrl, role === 'sweeper' || role === 'api') || undefined,
    maxReceiveCount: wholeNumber(environmentVariables.maxReceiveCount, maxReceiveCount, 1),
    settleMarginMs: wholeNumber(environmentVariables.settleMarginMs, defaults.settleMarginMs, 0),
    eventTimeoutMs: wholeNumber(environmentVariables.eventTimeoutMs, defaults.eventTimeoutMs, 1),
    wakeShards: wholeNumber(environmentVariables.wakeShards, tableDefinition.wakeShards, 1),
    historyLimit: wholeNumber(environmentVariables.historyLimit, defaults.historyLimit, 0),
    bucketName: read(environmentVariables.bucketName, false) || undefined,
    snapshotOffloadBytes: wholeNumber(environmentVariables.snapshotOffloadBytes, defaults.snapshotOffloadBytes, 0),
    warmInstances: wholeNumber(environmentVariables.warmInstances, defaults.warmInstances, 0),
  };
  if (problems.length > 0) {
    throw new Error(
      `The Settle ${role} is misconfigured: ${problems.join('; ')}. ` +
        'The CDK construct sets these variables; for the local stack run `npm start`, which sets them too.',
    );
  }
  return config;
}
