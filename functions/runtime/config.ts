import { maxReceiveCount, tableDefinition } from './resources.ts';

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
  /** `SETTLE_WAKE_SHARDS`: shards of the due index. @default 8 */
  readonly wakeShards: number;
  /**
   * `SETTLE_HISTORY_LIMIT`: events kept in each instance's `history`. Each entry is ≈ 70 bytes of the item,
   * and DynamoDB bills a write unit per KB: 5 keeps the example items within one unit. @default 20
   */
  readonly historyLimit: number;
}

export const environmentVariables = {
  tableName: 'SETTLE_TABLE',
  deadLetterQueueUrl: 'SETTLE_DLQ_URL',
  queueUrl: 'SETTLE_QUEUE_URL',
  maxReceiveCount: 'SETTLE_MAX_RECEIVE_COUNT',
  settleMarginMs: 'SETTLE_MARGIN_MS',
  wakeShards: 'SETTLE_WAKE_SHARDS',
  historyLimit: 'SETTLE_HISTORY_LIMIT',
} as const;

/** Which function reads the settings: each needs its own queue URL, and only that one. */
export type SettleRole = 'worker' | 'sweeper';

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
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min) {
      problems.push(`${name} must be a whole number ≥ ${min}, got '${raw}'`);
      return fallback;
    }
    return value;
  };

  const config: SettleConfig = {
    tableName: read(environmentVariables.tableName, true),
    deadLetterQueueUrl: read(environmentVariables.deadLetterQueueUrl, role === 'worker'),
    queueUrl: read(environmentVariables.queueUrl, role === 'sweeper') || undefined,
    maxReceiveCount: wholeNumber(environmentVariables.maxReceiveCount, maxReceiveCount, 1),
    settleMarginMs: wholeNumber(environmentVariables.settleMarginMs, 2000, 0),
    wakeShards: wholeNumber(environmentVariables.wakeShards, tableDefinition.wakeShards, 1),
    historyLimit: wholeNumber(environmentVariables.historyLimit, 20, 0),
  };
  if (problems.length > 0) {
    throw new Error(
      `The Settle ${role} is misconfigured: ${problems.join('; ')}. ` +
        'The CDK construct sets these variables; for the local stack run `npm start`, which sets them too.',
    );
  }
  return config;
}
