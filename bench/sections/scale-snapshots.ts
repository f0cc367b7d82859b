/**
 * §6a Scale with snapshot size: the real worker handler through DynamoStore on dynalite (snapshots over
 * 64 KB of JSON are gzipped by DynamoStore), and the worker core on MemoryStore beside it.
 */
import { gzipSync } from 'node:zlib';
import type { SQSRecord } from 'aws-lambda';
import { compressAboveBytes } from '../../runtime/core/item.ts';
import { createWorkerHandler } from '../../runtime/aws/worker.ts';
import { blobName, blobRegistry, linesOf } from '../blob-machine.ts';
import { countedLocalClients } from '../counting-dynamo.ts';
import { collectGarbage, memory, withPeakHeap } from '../harness.ts';
import { coldConfig, lambdaContext, sqsEvent, startIdleStack } from '../local.ts';
import type { BenchSizes } from '../options.ts';
import { instance, plan, shapeOf, toRecords, type Step } from '../workloads.ts';
import { runWorker, workerCore } from './cpu.ts';

const touch = (): Step => ({ kind: 'event', event: { type: 'TOUCH' } });

export interface RateSample {
  /** Events per second of this process's CPU time. */
  readonly cpuRate: number;
  readonly wallRate: number;
  /** Peak heap during the run minus the heap before it (after a GC). */
  readonly heapGrowthMb: number;
}

export interface SnapshotSizeFindings {
  readonly kb: number;
  readonly jsonBytes: number;
  readonly gzipBytes: number;
  readonly gzipped: boolean;
  /** Mean size of the DynamoDB item written. */
  readonly itemBytes: number;
  readonly dynamoSpread: RateSample;
  readonly dynamoBatched: RateSample;
  readonly memorySpread: RateSample;
  readonly heapUsedMb: number;
  readonly rssMb: number;
}

/** Runs `work` (which returns how many events it handled) and measures its rates and heap growth. */
export async function sample(work: () => Promise<number>): Promise<RateSample> {
  collectGarbage();
  const before = memory().heapUsedMb;
  const cpu = process.cpuUsage();
  const started = performance.now();
  const { result: events, peakHeapMb } = await withPeakHeap(work);
  const wallMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  return {
    cpuRate: (events / ((used.user + used.system) / 1000)) * 1000,
    wallRate: (events / wallMs) * 1000,
    heapGrowthMb: Math.max(0, peakHeapMb - before),
  };
}

export async function snapshotScale(sizes: BenchSizes['scale']): Promise<SnapshotSizeFindings[]> {
  const registry = blobRegistry(sizes.snapshotKb);
  const stack = await startIdleStack();
  const clients = countedLocalClients(stack.endpoints);
  const findings: SnapshotSizeFindings[] = [];
  try {
    const handler = createWorkerHandler({ config: coldConfig(stack.config), registry, sqs: clients.sqs, dynamo: clients.document });
    const viaHandler = async (batches: SQSRecord[][]) => {
      let events = 0;
      for (const records of batches) {
        const { batchItemFailures } = await handler(sqsEvent(records), lambdaContext());
        if (batchItemFailures.length > 0)
          throw new Error(`the worker handed back ${batchItemFailures.length} records of ${records[0]?.attributes.MessageGroupId}`);
        events += records.length;
      }
      return events;
    };
    for (const kb of sizes.snapshotKb) {
      const json = JSON.stringify({ touches: 0, lines: linesOf(kb * 1024) });
      const instances = Array.from({ length: sizes.snapshotInstances }, (_, i) => instance(blobName(kb), `scale-${i}`, touch));
      const events = sizes.snapshotEventsPerInstance;
      // Creating the instances (building their context) is not what is measured.
      await viaHandler(toRecords(plan(instances, 1, shapeOf(10, 1), 0)));
      clients.counter.reset();
      const dynamoSpread = await sample(() => viaHandler(toRecords(plan(instances, events, shapeOf(10, 1), 1_000))));
      const dynamoBatched = await sample(() => viaHandler(toRecords(plan(instances, events, shapeOf(1, 10), 100_000))));
      const itemBytes = clients.counter.writes.reduce((sum, w) => sum + w.bytes, 0) / Math.max(1, clients.counter.writes.length);

      const core = workerCore(registry, { warm: false });
      await runWorker(core, toRecords(plan(instances, 1, shapeOf(10, 1), 0)));
      const memorySpread = await sample(async () => {
        const records = toRecords(plan(instances, events, shapeOf(10, 1), 1_000));
        const retried = await runWorker(core, records);
        if (retried > 0) throw new Error(`the worker handed back ${retried} records`);
        return records.flat().length;
      });
      const after = memory();
      findings.push({
        kb,
        jsonBytes: Buffer.byteLength(json),
        gzipBytes: gzipSync(json).byteLength,
        gzipped: Buffer.byteLength(json) > compressAboveBytes,
        itemBytes,
        dynamoSpread,
        dynamoBatched,
        memorySpread,
        heapUsedMb: after.heapUsedMb,
        rssMb: after.rssMb,
      });
    }
  } finally {
    clients.destroy();
    await stack.stop();
  }
  return findings;
}
