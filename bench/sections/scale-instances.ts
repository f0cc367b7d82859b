/**
 * §6b Scale with the number of stored instances: counter instances in MemoryStore (up to 100,000) and
 * in dynalite (fewer), events spread over them at random, one record per batch.
 */
import { BatchWriteCommand, GetCommand } from '@aws-sdk/lib-dynamodb';
import type { SQSRecord } from 'aws-lambda';
import type { InstanceRecord } from '../../runtime/core/store.ts';
import { createWorkerHandler } from '../../runtime/aws/worker.ts';
import { registry } from '../../machines/index.ts';
import { sqsRecord as fifoRecord, sqsSequenceNumber as sequence } from '../../testing/index.ts';
import { collectGarbage, memory, seededRandom } from '../harness.ts';
import { coldConfig, lambdaContext, sqsEvent, startIdleStack } from '../local.ts';
import type { BenchSizes } from '../options.ts';
import { runWorker, workerCore } from './cpu.ts';
import { sample, type RateSample } from './scale-snapshots.ts';

export interface InstanceCountFindings {
  readonly store: 'MemoryStore' | 'dynalite';
  readonly instances: number;
  readonly rate: RateSample;
  /** Heap in use after a GC, with the instances stored. */
  readonly heapUsedMb: number;
  readonly rssMb: number;
  readonly externalMb: number;
}

const count = JSON.stringify({ type: 'COUNT' });
const keyOf = (store: string, i: number) => `counter/${store}-${i}`;

/** `events` single-record batches, each to a random one of the first `instances` instances. */
function spread(store: string, instances: number, events: number, firstSeq: number): SQSRecord[][] {
  const random = seededRandom(instances);
  return Array.from({ length: events }, (_, k) => [
    fifoRecord(keyOf(store, Math.floor(random() * instances)), sequence(firstSeq + k), count),
  ]);
}

export async function memoryInstanceScale(sizes: BenchSizes['scale']): Promise<InstanceCountFindings[]> {
  const findings: InstanceCountFindings[] = [];
  const core = workerCore(registry, { warm: false });
  await runWorker(core, [[fifoRecord('counter/template', sequence(1), count)]]);
  const template = await core.store.read('counter/template');
  if (!template) throw new Error('the template instance was not stored');
  let stored = 0;
  let firstSeq = 1_000_000;
  // Warm-up (JIT) on the template, so the first size is not measured cold.
  await runWorker(
    core,
    Array.from({ length: sizes.memoryEvents }, (_, k) => [fifoRecord('counter/template', sequence(2 + k), count)]),
  );
  for (const target of sizes.memoryInstances) {
    for (; stored < target; stored += 1) await core.store.write({ ...template, pk: keyOf('mem', stored) }, undefined);
    const batches = spread('mem', target, sizes.memoryEvents, firstSeq);
    firstSeq += sizes.memoryEvents;
    const rate = await sample(async () => {
      const retried = await runWorker(core, batches);
      if (retried > 0) throw new Error(`the worker handed back ${retried} records`);
      return batches.length;
    });
    collectGarbage();
    findings.push({ store: 'MemoryStore', instances: target, rate, ...memory() });
  }
  return findings;
}

export async function dynaliteInstanceScale(sizes: BenchSizes['scale']): Promise<InstanceCountFindings[]> {
  const stack = await startIdleStack();
  const { document } = stack.clients;
  const findings: InstanceCountFindings[] = [];
  try {
    const handler = createWorkerHandler({ config: coldConfig(stack.config), registry, sqs: stack.clients.sqs, dynamo: document });
    await handler(sqsEvent([fifoRecord('counter/template', sequence(1), count)]), lambdaContext());
    const { Item } = await document.send(new GetCommand({ TableName: stack.tableName, Key: { pk: 'counter/template' } }));
    if (!Item) throw new Error('the template instance was not stored');
    let stored = 0;
    let firstSeq = 1_000_000;
    for (let k = 0; k < Math.min(100, sizes.dynaliteEvents); k += 1) {
      await handler(sqsEvent([fifoRecord('counter/template', sequence(2 + k), count)]), lambdaContext()); // warm-up
    }
    for (const target of sizes.dynaliteInstances) {
      while (stored < target) {
        const chunk = Array.from({ length: Math.min(25, target - stored) }, (_, i) => ({
          PutRequest: { Item: { ...(Item as InstanceRecord), pk: keyOf('ddb', stored + i) } },
        }));
        const { UnprocessedItems } = await document.send(new BatchWriteCommand({ RequestItems: { [stack.tableName]: chunk } }));
        if (Object.keys(UnprocessedItems ?? {}).length > 0) throw new Error('dynalite left items unprocessed');
        stored += chunk.length;
      }
      const batches = spread('ddb', target, sizes.dynaliteEvents, firstSeq);
      firstSeq += sizes.dynaliteEvents;
      const rate = await sample(async () => {
        for (const records of batches) {
          const { batchItemFailures } = await handler(sqsEvent(records), lambdaContext());
          if (batchItemFailures.length > 0) throw new Error('the worker handed back a record');
        }
        return batches.length;
      });
      collectGarbage();
      findings.push({ store: 'dynalite', instances: target, rate, ...memory() });
    }
  } finally {
    await stack.stop();
  }
  return findings;
}
