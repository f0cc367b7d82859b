/**
 * The sweeper Lambda: run every minute by an EventBridge rule (locally: every second by the local
 * stack). It wakes instances whose durable timers are due.
 *
 * @example
 * const sweeper = createSweeper({ config });
 * await sweeper.sweep(); // { woken: 3 }
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { configFromEnvironment, environmentVariables, type SettleConfig } from './runtime/config.ts';
import { DynamoStore, createDocumentClient } from './runtime/dynamo-store.ts';
import type { InstanceStore } from './runtime/store.ts';
import { SqsWakeQueue, sweep, type WakeQueue } from './runtime/sweep.ts';

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

let lambdaSweeper: Sweeper | undefined;
const logger = new Logger({ serviceName: 'settle-sweeper' });

/** The Lambda entry point, for the scheduled EventBridge rule. */
export const handler = async (): Promise<{ woken: number }> => {
  lambdaSweeper ??= createSweeper({ config: configFromEnvironment(process.env, 'sweeper') });
  const result = await lambdaSweeper.sweep();
  if (result.woken > 0) logger.info('Woke instances with due timers', { woken: result.woken });
  return result;
};
