/**
 * A local SQS event source that behaves like Lambda's, with `reportBatchItemFailures` on:
 * long polls, hands batches of ≤ 10 records to the handler with a context whose
 * `getRemainingTimeInMillis()` counts down from the worker timeout, deletes what succeeded and
 * leaves the failures to the visibility timeout (then to the queue's redrive policy).
 *
 * Like Lambda: a handler that throws, times out, or returns an invalid `batchItemFailures`
 * (empty or unknown `itemIdentifier`) fails the whole batch; `undefined` or an empty list means
 * every record succeeded. Unlike Lambda: a timed-out handler cannot be killed, it runs on.
 *
 * fauxqs returns at most one message per message group per receive, so local batches hold
 * records of distinct instances; real SQS may return several of one group, in order.
 *
 * @example
 * const poller = await startPoller({ sqs, queueUrl, handler, waitTimeSeconds: 1 });
 * // …
 * await poller.stop(); // stops receiving, waits for the batches in flight
 */
import { randomUUID } from 'node:crypto';
import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { consoleLogger, type LocalLogger } from './log.ts';
import { localWorkerTimeoutSeconds } from './provision.ts';
import { regionOf, toSqsRecord } from './sqs-record.ts';

/** What the poller invokes: the worker's handler, or any function of the same shape. */
export type SqsBatchHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse | undefined>;

export interface PollerOptions {
  readonly sqs: SQSClient;
  readonly queueUrl: string;
  readonly handler: SqsBatchHandler;
  /** Looked up with GetQueueAttributes when absent. */
  readonly queueArn?: string;
  /** The handler's time limit; `getRemainingTimeInMillis()` counts down from it. @default localWorkerTimeoutSeconds */
  readonly workerTimeoutSeconds?: number;
  /** Concurrent poll loops, each invoking the handler for its own batches. @default 2 */
  readonly concurrency?: number;
  /** Records per batch, 1–10. @default 10 */
  readonly batchSize?: number;
  /** Long-poll wait, 0–20 s; tests use 1 so stop() returns quickly. @default 20 */
  readonly waitTimeSeconds?: number;
  /** Per-receive VisibilityTimeout; the queue's own when absent. A short one forces redelivery. */
  readonly visibilityTimeoutSeconds?: number;
  /** Names the function in the context. @default 'settle-worker' */
  readonly functionName?: string;
  /** After each batch, what became of it. */
  readonly onBatch?: (report: BatchReport) => void;
  /** @default consoleLogger */
  readonly logger?: LocalLogger;
}

export interface BatchReport {
  /** The event the handler received. */
  readonly event: SQSEvent;
  /** `ok`: every record succeeded; `partial`: some reported in batchItemFailures; the rest fail the whole batch. */
  readonly outcome: 'ok' | 'partial' | 'threw' | 'timed-out' | 'invalid-response';
  /** Message ids deleted from the queue. */
  readonly deleted: readonly string[];
  /** Message ids left to the visibility timeout. */
  readonly failed: readonly string[];
  readonly durationMs: number;
}

export interface Poller {
  readonly queueArn: string;
  /**
   * Stops receiving and resolves once every batch in flight is done. Open long polls are aborted:
   * a message SQS hands to an aborted poll stays invisible until its visibility timeout, as on AWS.
   */
  stop(): Promise<void>;
}

export async function startPoller(options: PollerOptions): Promise<Poller> {
  const settings = checkOptions(options);
  const logger = options.logger ?? consoleLogger;
  const queueArn = options.queueArn ?? (await lookUpArn(options.sqs, options.queueUrl));
  const aborter = new AbortController();
  let stopping = false;

  const invoke = (messages: Message[]) => invokeHandler(messages, { ...settings, queueArn, logger, options });

  const loop = async (): Promise<void> => {
    while (!stopping) {
      let messages: Message[];
      try {
        const result = await options.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: options.queueUrl,
            MaxNumberOfMessages: settings.batchSize,
            WaitTimeSeconds: settings.waitTimeSeconds,
            AttributeNames: ['All'],
            MessageSystemAttributeNames: ['All'],
            MessageAttributeNames: ['All'],
            ...(options.visibilityTimeoutSeconds === undefined ? {} : { VisibilityTimeout: options.visibilityTimeoutSeconds }),
          }),
          { abortSignal: aborter.signal },
        );
        messages = result.Messages ?? [];
      } catch (error) {
        if (stopping) return;
        logger.error(`poller: receiving from ${options.queueUrl} failed; retrying in 1 s`, error);
        await sleep(1000, aborter.signal);
        continue;
      }
      if (messages.length === 0) continue;
      try {
        await invoke(messages);
      } catch (error) {
        logger.error(
          `poller: a batch of ${messages.length} messages could not be handed to the handler; SQS will deliver them again`,
          error,
        );
      }
    }
  };

  const loops = Array.from({ length: settings.concurrency }, () => loop());
  let stopped: Promise<void> | undefined;
  return {
    queueArn,
    stop: () =>
      (stopped ??= (async () => {
        stopping = true;
        aborter.abort();
        await Promise.all(loops);
      })()),
  };
}

interface Settings {
  readonly concurrency: number;
  readonly batchSize: number;
  readonly waitTimeSeconds: number;
  readonly timeoutMs: number;
  readonly functionName: string;
}

function checkOptions(options: PollerOptions): Settings {
  const problems: string[] = [];
  const whole = (name: string, value: number, min: number, max: number) => {
    if (!Number.isInteger(value) || value < min || value > max)
      problems.push(`${name} must be a whole number from ${min} to ${max}, got ${value}`);
    return value;
  };
  const settings = {
    concurrency: whole('concurrency', options.concurrency ?? 2, 1, 1000),
    batchSize: whole('batchSize', options.batchSize ?? 10, 1, 10),
    waitTimeSeconds: whole('waitTimeSeconds', options.waitTimeSeconds ?? 20, 0, 20),
    timeoutMs: whole('workerTimeoutSeconds', options.workerTimeoutSeconds ?? localWorkerTimeoutSeconds, 1, 900) * 1000,
    functionName: options.functionName ?? 'settle-worker',
  };
  if (options.visibilityTimeoutSeconds !== undefined) whole('visibilityTimeoutSeconds', options.visibilityTimeoutSeconds, 0, 43_200);
  if (problems.length > 0) throw new RangeError(`Invalid poller options: ${problems.join('; ')}.`);
  return settings;
}

async function lookUpArn(sqs: SQSClient, queueUrl: string): Promise<string> {
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }));
  if (!Attributes?.QueueArn) throw new Error(`SQS returned no QueueArn for ${queueUrl}.`);
  return Attributes.QueueArn;
}

const timedOut = Symbol('timed out');

async function invokeHandler(
  messages: Message[],
  run: Settings & { queueArn: string; logger: LocalLogger; options: PollerOptions },
): Promise<void> {
  const started = Date.now();
  const records = messages.map((message) => toSqsRecord(message, { queueArn: run.queueArn }));
  const event: SQSEvent = { Records: records };
  const context = lambdaContext(run.functionName, regionOf(run.queueArn), started + run.timeoutMs);
  const finish = async (outcome: BatchReport['outcome'], succeeded: readonly SQSRecord[]) => {
    const deleted = await deleteRecords(run.options.sqs, run.options.queueUrl, succeeded, run.logger);
    const failed = records.filter((record) => !deleted.includes(record.messageId)).map((record) => record.messageId);
    run.options.onBatch?.({ event, outcome, deleted, failed, durationMs: Date.now() - started });
  };

  let timer: NodeJS.Timeout | undefined;
  let response: SQSBatchResponse | undefined | typeof timedOut;
  try {
    response = await Promise.race([
      Promise.resolve().then(() => run.options.handler(event, context)),
      new Promise<typeof timedOut>((resolve) => (timer = setTimeout(() => resolve(timedOut), run.timeoutMs))),
    ]);
  } catch (error) {
    run.logger.error(
      `poller: the handler threw; all ${records.length} records of request ${context.awsRequestId} return after the visibility timeout`,
      error,
    );
    return finish('threw', []);
  } finally {
    clearTimeout(timer);
  }
  if (response === timedOut) {
    run.logger.error(
      `poller: request ${context.awsRequestId} timed out after ${run.timeoutMs / 1000} s; its ${records.length} records return after the visibility timeout`,
    );
    return finish('timed-out', []);
  }
  const failures = failedIds(response, records);
  if (failures === undefined) {
    run.logger.error(
      `poller: request ${context.awsRequestId} returned invalid batchItemFailures ${JSON.stringify(response)}; ` +
        'as on Lambda the whole batch fails. Each itemIdentifier must be the messageId of a record in the batch.',
    );
    return finish('invalid-response', []);
  }
  return finish(
    failures.size === 0 ? 'ok' : 'partial',
    records.filter((record) => !failures.has(record.messageId)),
  );
}

/** The failed message ids, or `undefined` when Lambda would reject the response and fail the whole batch. */
function failedIds(response: SQSBatchResponse | undefined | null, records: readonly SQSRecord[]): Set<string> | undefined {
  const items = (response as { batchItemFailures?: unknown } | undefined | null)?.batchItemFailures;
  if (items === undefined || items === null) return new Set();
  if (!Array.isArray(items)) return undefined;
  const known = new Set(records.map((record) => record.messageId));
  const failed = new Set<string>();
  for (const item of items as unknown[]) {
    const id = (item as { itemIdentifier?: unknown } | null)?.itemIdentifier;
    if (typeof id !== 'string' || !known.has(id)) return undefined;
    failed.add(id);
  }
  return failed;
}

/** Deletes the records (≤ 10, one DeleteMessageBatch) and returns the message ids SQS deleted. */
async function deleteRecords(sqs: SQSClient, queueUrl: string, records: readonly SQSRecord[], logger: LocalLogger): Promise<string[]> {
  if (records.length === 0) return [];
  try {
    const { Successful = [], Failed = [] } = await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: records.map((record, index) => ({ Id: String(index), ReceiptHandle: record.receiptHandle })),
      }),
    );
    for (const failure of Failed) {
      logger.warn(
        `poller: could not delete message ${records[Number(failure.Id)]?.messageId}: ${failure.Code} ${failure.Message ?? ''}; SQS will deliver it again`,
      );
    }
    return Successful.flatMap((entry) => records[Number(entry.Id)]?.messageId ?? []);
  } catch (error) {
    logger.error(`poller: deleting ${records.length} processed messages failed; SQS will deliver them again`, error);
    return [];
  }
}

function lambdaContext(functionName: string, region: string, deadline: number): Context {
  const unsupported = () => {
    throw new Error('The local poller supports async handlers only; the callback-style context.done/fail/succeed are not available.');
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:000000000000:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: unsupported,
    fail: unsupported,
    succeed: unsupported,
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
