/** The local stack as the benchmarks start it: quiet, no sweeper (streams deliver their own wake-ups). */
import type { Context, SQSEvent } from 'aws-lambda';
import { silentLogger } from '../local/log.ts';
import { startLocalStack, type LocalStack, type LocalStackOptions } from '../local/stack.ts';
import type { SettleConfig } from '../runtime/core/config.ts';

/** A stack whose poller hands batches to nothing: for sections that call the worker handler themselves. */
export function startIdleStack(): Promise<LocalStack> {
  return startBenchStack({ handler: () => async () => ({ batchItemFailures: [] }) });
}

export function startBenchStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  return startLocalStack({
    logger: silentLogger,
    sweeper: null,
    ...options,
    poller: { waitTimeSeconds: 1, ...options.poller },
  });
}

/** A Lambda context for calling a handler directly. */
export function lambdaContext(timeoutMs = 30_000): Context {
  const deadline = Date.now() + timeoutMs;
  const unsupported = () => {
    throw new Error('not supported in benchmarks');
  };
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'settle-worker',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:settle-worker',
    memoryLimitInMB: '512',
    awsRequestId: 'bench',
    logGroupName: '/aws/lambda/settle-worker',
    logStreamName: 'bench',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: unsupported,
    fail: unsupported,
    succeed: unsupported,
  };
}

export const sqsEvent = (records: SQSEvent['Records']): SQSEvent => ({ Records: records });

/** The stack's settings with warm instances off: a worker that restores every instance on every batch. */
export const coldConfig = (config: SettleConfig): SettleConfig => ({ ...config, warmInstances: 0 });
