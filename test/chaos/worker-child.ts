/**
 * One chaos worker process: the real worker handler (functions/worker.ts, over the real DynamoStore and
 * SqsDeadLetterQueue) behind the local Lambda-like poller, pointed at the parent's emulators by the
 * standard environment (AWS_ENDPOINT_URL_SQS / _DYNAMODB, SETTLE_*), exactly as a Lambda would be.
 *
 * Fault hooks wrap the store, the dead-letter queue, the handler and the ledger's side effect. The
 * parent picks one kill point per incarnation (CHAOS_KILL_POINT) and the occurrence at which it fires
 * (CHAOS_KILL_AT); when it fires the process SIGKILLs itself on the spot — no cleanup, no delete, no
 * write: what a Lambda sandbox dying mid-invocation looks like to SQS and DynamoDB.
 *
 * A batch holding a record received CHAOS_SPARE_RECEIVES times or more is never killed: SQS redrives a
 * record after maxReceiveCount receives, which is correct (I4) but would take a healthy event out of
 * the ledger this test checks; the DLQ paths are proven by test/poison.test.ts.
 *
 * Reports go to the parent as JSON lines on stdout (synchronous on a pipe on Linux, so the line written
 * before a self-kill arrives): `b` batch handed to the handler, `ack` what the poller deleted, `fx` one
 * run of the side effect, `conflict`, `retry`, `dl` a dead letter sent, `kill` the point that fired.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSEvent } from 'aws-lambda';
import { configFromEnvironment } from '../../runtime/core/config.ts';
import type { DeadLetterQueue } from '../../runtime/core/dead-letters.ts';
import { SqsDeadLetterQueue } from '../../runtime/aws/sqs-dead-letters.ts';
import { DynamoStore, createDocumentClient } from '../../runtime/aws/dynamo-store.ts';
import { VersionConflictError } from '../../runtime/core/errors.ts';
import type { InstanceRecord, InstanceStore } from '../../runtime/core/store.ts';
import { startPoller } from '../../local/poller.ts';
import { createWorkerHandler } from '../../runtime/aws/worker.ts';
import type { ChildReport, KillPoint } from './faults.ts';
import { createLedgerRegistry, type LedgerEffectInput } from './ledger.ts';

function numberSetting(name: string, fallback: number): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isFinite(value)) throw new Error(`${name} must be a number, got '${raw}'`);
  return value;
}

const plan = {
  point: (process.env.CHAOS_KILL_POINT ?? 'none') as KillPoint | 'none',
  at: numberSetting('CHAOS_KILL_AT', 1),
  spareReceives: numberSetting('CHAOS_SPARE_RECEIVES', 3),
  pollLoops: numberSetting('CHAOS_POLL_LOOPS', 2),
  visibilitySeconds: numberSetting('CHAOS_VISIBILITY_SECONDS', 2),
  workerTimeoutSeconds: numberSetting('CHAOS_WORKER_TIMEOUT_SECONDS', 10),
  slowMs: numberSetting('CHAOS_SLOW_MS', 2500),
  midBatchMaxMs: numberSetting('CHAOS_MID_BATCH_MAX_MS', 15),
};

function report(line: ChildReport): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

/** The batch a hook runs in: carried through the worker's promises and XState's actors. */
const batchContext = new AsyncLocalStorage<{ readonly maxReceive: number }>();
let occurrences = 0;

function die(point: KillPoint): never {
  report({ t: 'kill', point });
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable: SIGKILL did not stop the process');
}

/** True when this occurrence of `point` is the one chosen to kill (and the batch may be killed). */
function firesAt(point: KillPoint): boolean {
  if (plan.point !== point) return false;
  const batch = batchContext.getStore();
  if (!batch || batch.maxReceive >= plan.spareReceives) return false;
  occurrences += 1;
  return occurrences >= plan.at;
}

function hook(point: KillPoint): void {
  if (firesAt(point)) die(point);
}

/** Group#sequence of records on their first receive: only there is a slow event slow (forcing one second consumer, not endless ones). */
const firstReceives = new Set<string>();

async function effect(input: LedgerEffectInput): Promise<number> {
  report({ t: 'fx', k: input.key });
  hook('after-effect');
  if (input.slow && firstReceives.has(input.key)) await sleep(plan.slowMs);
  return input.n;
}

const config = configFromEnvironment();
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const region = process.env.AWS_REGION ?? 'us-east-1';
const sqs = new SQSClient({
  region,
  credentials,
  endpoint: process.env.AWS_ENDPOINT_URL_SQS,
  useQueueUrlAsEndpoint: false,
  maxAttempts: 3,
});
const dynamodb = new DynamoDBClient({ region, credentials, endpoint: process.env.AWS_ENDPOINT_URL_DYNAMODB, maxAttempts: 3 });
const realStore = new DynamoStore(config.tableName, createDocumentClient(dynamodb));
const realDeadLetters = new SqsDeadLetterQueue(config.deadLetterQueueUrl, sqs);

const store: InstanceStore = {
  read: async (pk) => {
    const item = await realStore.read(pk);
    hook('after-read');
    return item;
  },
  write: async (record, expectedVersion) => {
    hook('before-write');
    let saved: InstanceRecord;
    try {
      saved = await realStore.write(record, expectedVersion);
    } catch (error) {
      if (error instanceof VersionConflictError) report({ t: 'conflict' });
      throw error;
    }
    hook('after-write');
    return saved;
  },
  findDue: (shard, now, limit) => realStore.findDue(shard, now, limit),
};

const deadLetters: DeadLetterQueue = {
  send: async (letter) => {
    await realDeadLetters.send(letter);
    report({ t: 'dl' });
    hook('after-dead-letter');
  },
};

const handler = createWorkerHandler({
  config,
  registry: createLedgerRegistry(effect),
  sqs,
  store,
  deadLetters,
  logger: {
    info: () => undefined,
    warn: (message, attributes) => {
      if (message.startsWith('Group left to SQS')) report({ t: 'retry' });
      else process.stderr.write(`worker: ${message} ${JSON.stringify(attributes ?? {})}\n`);
    },
    error: (message, attributes) => process.stderr.write(`worker: ${message} ${JSON.stringify(attributes ?? {})}\n`),
  },
});

async function chaosHandler(event: SQSEvent, context: Context) {
  const receives = event.Records.map((record) => Number(record.attributes.ApproximateReceiveCount) || 1);
  // As the worker builds the idempotency key: the sequence number as SQS wrote it (fauxqs pads it with zeros).
  const keys = event.Records.map((record) => `${record.attributes.MessageGroupId}#${record.attributes.SequenceNumber ?? ''}`);
  report({
    t: 'b',
    id: event.Records[0]?.messageId ?? '',
    r: event.Records.map((record, index) => [record.messageId, receives[index] ?? 1] as const),
  });
  event.Records.forEach((_, index) => {
    if (receives[index] === 1) firstReceives.add(keys[index] as string);
  });
  try {
    return await batchContext.run({ maxReceive: Math.max(...receives) }, async () => {
      hook('after-receive');
      if (firesAt('mid-batch')) setTimeout(() => die('mid-batch'), Math.floor(Math.random() * plan.midBatchMaxMs));
      return handler(event, context);
    });
  } finally {
    for (const key of keys) firstReceives.delete(key);
  }
}

const poller = await startPoller({
  sqs,
  queueUrl: config.queueUrl ?? '',
  handler: chaosHandler,
  concurrency: plan.pollLoops,
  batchSize: 10,
  waitTimeSeconds: 1,
  visibilityTimeoutSeconds: plan.visibilitySeconds,
  workerTimeoutSeconds: plan.workerTimeoutSeconds,
  onBatch: (batch) =>
    report({ t: 'ack', id: batch.event.Records[0]?.messageId ?? '', o: batch.outcome, d: batch.deleted.length, f: batch.failed.length }),
  logger: {
    info: () => undefined,
    warn: (message) => process.stderr.write(`poller: ${message}\n`),
    error: (message, error) => process.stderr.write(`poller: ${message} ${error instanceof Error ? error.message : ''}\n`),
  },
});
report({ t: 'ready', pid: process.pid, point: plan.point, at: plan.at });

// The parent's pipe closing means the parent is gone: never outlive it.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => {
  poller.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
