/**
 * §5 Cost per million events on AWS, computed from what the other sections counted and measured, at list
 * prices; beside Step Functions Standard running the same workflow.
 */
import { createActor, type InspectionEvent } from 'xstate';
import { registry } from '../../machines/index.ts';
import { LiveActors, runBatches } from '../baselines.ts';
import { lambdaMemoryGb, priceSource, prices } from '../prices.ts';
import { compared, formatNumber, type Figure, type Section } from '../report.ts';
import { exampleMachines, instance, plan, shapeOf, streams, type ExampleMachine } from '../workloads.ts';
import type { E2eFindings } from './e2e.ts';
import type { StorageFindings } from './storage.ts';

/** XState microsteps (transitions taken) per outside event, over `events` events of the machine's stream. */
async function microstepsPerEvent(machine: ExampleMachine, events: number): Promise<number> {
  let microsteps = 0;
  const inspect = (event: InspectionEvent) => {
    if (event.type === '@xstate.microstep' && event.actorRef.sessionId === event.rootId && event._transitions.length > 0) microsteps += 1;
  };
  const live = new LiveActors(registry, (m, options) => createActor(m, { ...options, inspect }));
  await runBatches(plan([instance(machine, 'cost', streams[machine])], events, shapeOf(1, 1)), (p) => live.apply(p));
  live.stop();
  return microsteps / events;
}

interface Pattern {
  readonly name: string;
  /** Events that share one read and one write. */
  readonly eventsPerGroupBatch: number;
  /** Median handler time per 10-record batch, ms (storage section, dynalite). */
  readonly batchMs: number;
}

export interface CostLine {
  readonly machine: ExampleMachine;
  readonly pattern: string;
  readonly sqs: number;
  readonly dynamo: number;
  readonly lambda: number;
  readonly total: number;
  readonly stepFunctions: number;
  readonly transitionsPerEvent: number;
}

export async function costSection(
  storage: StorageFindings,
  e2e: E2eFindings,
  microstepEvents: number,
): Promise<{ section: Section; lines: CostLine[] }> {
  const started = performance.now();
  const shape = (groups: number, records: number) =>
    storage.shapes.find((s) => s.shape.groups === groups && s.shape.recordsPerGroup === records);
  const spread = shape(10, 1);
  const batched = shape(1, 10);
  if (!spread || !batched) throw new Error('the storage section did not measure the 10 × 1 and 1 × 10 shapes');
  const patterns: Pattern[] = [
    { name: 'each event its own group-batch', eventsPerGroupBatch: 1, batchMs: spread.batchMsMedian },
    { name: '10 events per group-batch', eventsPerGroupBatch: 10, batchMs: batched.batchMsMedian },
  ];
  const settle = e2e.settle;
  const sqsRequestsPerEvent = Object.values(settle.sqsCalls).reduce((sum, n) => sum + n, 0) / Math.max(1, settle.completed);
  const recordsPerInvocation = 10;

  const lines: CostLine[] = [];
  const figures: Figure[] = [];
  for (const machine of exampleMachines) {
    const item = storage.items[machine];
    const readUnits = Math.max(1, Math.ceil(item.steadyBytes / 4096));
    const indexUnits = item.indexWritesPerWrite + item.listIndexUnitsPerWrite;
    const writeUnits = Math.max(1, Math.ceil(item.steadyBytes / 1024)) + indexUnits;
    const transitionsPerEvent = (await microstepsPerEvent(machine, microstepEvents)) + 2;
    const stepFunctions = transitionsPerEvent * prices.stepFunctionsTransition * 1e6;
    const dynamoPerEvent = (bytes: number, eventsPerGroupBatch: number) =>
      ((Math.max(1, Math.ceil(bytes / 4096)) * prices.dynamoReadUnit +
        (Math.max(1, Math.ceil(bytes / 1024)) + indexUnits) * prices.dynamoWriteUnit) /
        eventsPerGroupBatch) *
      1e6;
    for (const pattern of patterns) {
      const sqs = sqsRequestsPerEvent * prices.sqsFifoRequest * 1e6;
      const dynamo = dynamoPerEvent(item.steadyBytes, pattern.eventsPerGroupBatch);
      const billedMs = Math.ceil(pattern.batchMs);
      const lambda = ((prices.lambdaRequest + (billedMs / 1000) * lambdaMemoryGb * prices.lambdaArmGbSecond) / recordsPerInvocation) * 1e6;
      const total = sqs + dynamo + lambda;
      lines.push({ machine, pattern: pattern.name, sqs, dynamo, lambda, total, stepFunctions, transitionsPerEvent });
      figures.push(
        compared(
          `${machine} · ${pattern.name} · Settle per 1M events`,
          total,
          'USD',
          { name: 'Step Functions Standard', value: stepFunctions },
          {
            note:
              `SQS ${formatNumber(sqs)} + DynamoDB ${formatNumber(dynamo)} (${readUnits} RRU + ${formatNumber(writeUnits)} WRU per group-batch, item ${formatNumber(item.steadyBytes)} B) + ` +
              `Lambda ${formatNumber(lambda)} (${billedMs} ms per 10-record batch); SFN ${formatNumber(transitionsPerEvent)} transitions/event`,
          },
        ),
      );
      const smaller = item.byHistoryLimit[5];
      if (pattern.eventsPerGroupBatch === 1 && smaller !== undefined) {
        const whatIf = sqs + dynamoPerEvent(smaller, 1) + lambda;
        figures.push(
          compared(
            `${machine} · ${pattern.name} · what-if historyLimit 5`,
            whatIf,
            'USD',
            { name: 'historyLimit 20 (default)', value: total },
            {
              note: `item ${formatNumber(smaller)} B instead of ${formatNumber(item.byHistoryLimit[20] ?? item.steadyBytes)} B (section 2)`,
            },
          ),
        );
      }
    }
  }
  const notes = [
    `Prices: ${priceSource}. SQS FIFO $${formatNumber(prices.sqsFifoRequest * 1e6)}/M requests; DynamoDB on-demand $${formatNumber(prices.dynamoWriteUnit * 1e6)}/M WRU, $${formatNumber(prices.dynamoReadUnit * 1e6)}/M RRU; Lambda arm64 $${prices.lambdaArmGbSecond}/GB-s + $${formatNumber(prices.lambdaRequest * 1e6)}/M requests; Step Functions Standard $${formatNumber(prices.stepFunctionsTransition * 1000)}/1,000 transitions.`,
    'Settle per event = SQS requests/event × P_sqs + (RRU × P_rru + WRU × P_wru) / events per group-batch + (P_invoke + ⌈batch ms⌉/1000 × 0.5 GB × P_gbs) / 10 records per invocation.',
    `SQS requests/event = ${formatNumber(sqsRequestsPerEvent)}, counted in the end-to-end run (SendMessageBatch of 10, ReceiveMessage, DeleteMessageBatch); a producer that sends one message per SendMessage adds 0.9 request/event ($${formatNumber(0.9 * prices.sqsFifoRequest * 1e6)}/M). Idle long polls of the event source mapping are a fixed cost, not per event, and are left out.`,
    'RRU = ⌈item/4 KB⌉ (strongly consistent read), WRU = ⌈item/1 KB⌉ + due-index writes (KEYS_ONLY, small: 1 unit each) + list-index units (⌈entry/1 KB⌉, twice when listSort moves, i.e. on nearly every save; section 7); item sizes are the steady-state sizes measured in section 2 (history full).',
    `Lambda duration: the median handler time per 10-record batch measured in section 2 against dynalite on this box, at ${lambdaMemoryGb * 1024} MB arm64. A 512 MB function gets about a third of a vCPU, so CPU-bound parts run slower there, while real DynamoDB round trips (single-digit ms) replace the in-process emulator's: treat the Lambda line as an estimate.`,
    'Step Functions: the same workflow as a Standard state machine that waits for each event in a callback task (.waitForTaskToken): per event 1 transition back into the waiting task + 1 Choice that routes the event + 1 per XState microstep the event causes (counted with the inspection API). Lambda or other task costs of Step Functions are not added.',
  ];
  return {
    section: { id: 'cost', title: '5. Cost per million events on AWS (computed)', figures, notes, durationMs: performance.now() - started },
    lines,
  };
}
