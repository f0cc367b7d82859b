/**
 * The sweeper: run every minute by an EventBridge rule (locally: every second by the local stack). It
 * wakes instances whose durable timers are due.
 *
 * @example
 * const sweeper = createSweeper({ config });
 * await sweeper.sweep(); // { woken: 3 }
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { configFromEnvironment, environmentVariables, type SettleConfig } from '../core/config.ts';
import type { InstanceStore } from '../core/store.ts';
import { sweep, type WakeQueue } from '../core/sweep.ts';
import { DynamoStore, createDocumentClient } from './dynamo-store.ts';
import { SqsWakeQueue } from './sqs-wake-queue.ts';

export interface SweeperOptions {
  readonly config: SettleConfig;
  readonly sqs?: SQSClient;
  readonly dynamo?: DynamoDBDocumentClient;
  readonly store?: InstanceStore;
  readonly wakeQueue?: WakeQueue;
  /** @default Date.now */
  readonly now?: () => number;
  /** How often sweeps run: the schedule's rate. @default 60000 (the EventBridge rule's minute) */
  readonly intervalMs?: number;
}

export interface Sweeper {
  sweep(): Promise<{ woken: number }>;
}

export function createSweeper(options: SweeperOptions): Sweeper {
  const { config } = options;
  if (!config.queueUrl && !options.wakeQueue) {
    throw new Error(`The sweeper needs ${environmentVariables.queueUrl}: the events queue that wake-ups are sent to.`);
  }
  const core = {
    store: options.store ?? new DynamoStore(config.tableName, options.dynamo ?? createDocumentClient()),
    wakeQueue: options.wakeQueue ?? new SqsWakeQueue(config.queueUrl ?? '', options.sqs ?? new SQSClient({})),
    now: options.now ?? Date.now,
    wakeShards: config.wakeShards,
    intervalMs: options.intervalMs,
  };
  return { sweep: () => sweep(core) };
}

/**
 * The sweeper as a Lambda handler for the scheduled EventBridge rule: settings from the environment,
 * clients made once per Lambda instance on first use.
 */
export function sweeperHandler(): () => Promise<{ woken: number }> {
  let sweeper: Sweeper | undefined;
  const logger = new Logger({ serviceName: 'settle-sweeper' });
  return async () => {
    sweeper ??= createSweeper({ config: configFromEnvironment(process.env, 'sweeper') });
    const result = await sweeper.sweep();
    if (result.woken > 0) logger.info('Woke instances with due timers', { woken: result.woken });
    return result;
  };
}
