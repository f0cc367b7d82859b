/**
 * §3 End to end on the local stack: instances × events sent through SQS (SendMessageBatch) to the running
 * stack, timed from send to the saved settle (the stack's onApplied), beside the emulators' own ceiling:
 * the same messages sent, received and deleted by the same poller with a handler that does nothing.
 */
import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import type { BatchReport } from '../../local/poller.ts';
import { MemoryDeadLetterQueue } from '../../runtime/memory/memory-queues.ts';
import { MemoryStore } from '../../runtime/memory/memory-store.ts';
import { createWorkerHandler } from '../../runtime/aws/worker.ts';
import { registry } from '../../machines/index.ts';
import type { LocalStack } from '../../local/stack.ts';
import { percentile, sleep } from '../harness.ts';
import { startBenchStack } from '../local.ts';
import type { BenchSizes } from '../options.ts';
import { compared, formatNumber, type Figure, type Section } from '../report.ts';
import { bodyOf, exampleMachines, instance, steppingClock, streams, type Instance } from '../workloads.ts';

export interface Message {
  readonly group: string;
  readonly body: string;
  readonly dedup: string;
}

export interface RunFindings {
  readonly events: number;
  readonly completed: number;
  readonly durationMs: number;
  readonly throughput: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly batches: number;
  /** SQS requests by action during the run (sends, receives including empty ones, deletes). */
  readonly sqsCalls: Readonly<Record<string, number>>;
}

export interface E2eFindings {
  readonly settle: RunFindings;
  readonly memory: RunFindings;
  readonly ceiling: RunFindings;
  readonly pacedSettle: RunFindings;
  readonly pacedCeiling: RunFindings;
  readonly pacedRate: number;
  readonly pollerConcurrency: number;
}

const pollerConcurrency = 2;
export const keyOf = (group: string, sequenceNumber: string) => `${group}#${BigInt(sequenceNumber)}`;

/** Every instance's events, interleaved by event index (instance 0..n of event 0, then of event 1, …). */
export function messagesOf(instances: readonly Instance[], eventsPerInstance: number, run: string): Message[][] {
  return Array.from({ length: eventsPerInstance }, (_, index) =>
    instances.map((inst) => ({ group: inst.key, body: bodyOf(inst.stream(index)), dedup: `${run}-${inst.instanceId}-${index}` })),
  );
}

export function mixedInstances(count: number, prefix: string): Instance[] {
  return Array.from({ length: count }, (_, i) => {
    const machine = exampleMachines[i % exampleMachines.length] ?? 'counter';
    return instance(machine, `${prefix}-${i}`, streams[machine]);
  });
}

/** Counts SQS requests by action on a client. */
function countSqs(sqs: SQSClient): Map<string, number> {
  const calls = new Map<string, number>();
  sqs.middlewareStack.add(
    (next, context) => async (args) => {
      const action = (context as { commandName?: string }).commandName?.replace(/Command$/, '') ?? 'unknown';
      calls.set(action, (calls.get(action) ?? 0) + 1);
      return next(args);
    },
    { step: 'initialize', name: 'settleBenchSqsCounter' },
  );
  return calls;
}

export async function sendBatch(
  stack: Pick<LocalStack, 'queueUrl'> & { readonly clients: Pick<LocalStack['clients'], 'sqs'> },
  entries: readonly Message[],
  sentAt: Map<string, number>,
): Promise<void> {
  const at = performance.now();
  const { Successful = [], Failed = [] } = await stack.clients.sqs.send(
    new SendMessageBatchCommand({
      QueueUrl: stack.queueUrl,
      Entries: entries.map((m, i) => ({ Id: String(i), MessageBody: m.body, MessageGroupId: m.group, MessageDeduplicationId: m.dedup })),
    }),
  );
  if (Failed.length > 0)
    throw new Error(`SendMessageBatch failed for ${Failed.length} entries: ${Failed[0]?.Code} ${Failed[0]?.Message ?? ''}`);
  for (const ok of Successful) {
    const message = entries[Number(ok.Id)];
    if (message && ok.SequenceNumber) sentAt.set(keyOf(message.group, ok.SequenceNumber), at);
  }
}

/** As fast as order allows: one round per event index, its batches of 10 instances in parallel. */
export async function sendSaturated(
  stack: Parameters<typeof sendBatch>[0],
  rounds: readonly Message[][],
  sentAt: Map<string, number>,
): Promise<void> {
  for (const round of rounds) {
    const chunks: Message[][] = [];
    for (let i = 0; i < round.length; i += 10) chunks.push(round.slice(i, i + 10));
    await Promise.all(chunks.map((chunk) => sendBatch(stack, chunk, sentAt)));
  }
}

/** Open loop at `rate` messages/s, in order, batched up to 10 when behind. */
async function sendPaced(stack: LocalStack, rounds: readonly Message[][], rate: number, sentAt: Map<string, number>): Promise<void> {
  const all = rounds.flat();
  const started = performance.now();
  let sent = 0;
  while (sent < all.length) {
    const due = Math.min(all.length, Math.floor(((performance.now() - started) * rate) / 1000) + 1);
    if (due > sent) {
      const take = Math.min(10, due - sent);
      await sendBatch(stack, all.slice(sent, sent + take), sentAt);
      sent += take;
    } else {
      await sleep(2);
    }
  }
}

interface Target {
  /** Starts a stack whose handler or onApplied calls `done(key)` when a message is finished. */
  start(done: (key: string) => void, onBatch: (report: BatchReport) => void): Promise<LocalStack>;
}

const settleTarget: Target = {
  start: (done, onBatch) =>
    startBenchStack({
      registry,
      now: steppingClock(),
      onApplied: (event) => done(keyOf(event.instanceKey, event.sequenceNumber)),
      poller: { concurrency: pollerConcurrency, onBatch },
    }),
};

/** The worker with in-memory storage: splits Settle's own cost from the DynamoDB emulator's. */
const memoryTarget: Target = {
  start: (done, onBatch) =>
    startBenchStack({
      handler: ({ config }) =>
        createWorkerHandler({
          config,
          registry,
          store: new MemoryStore(),
          deadLetters: new MemoryDeadLetterQueue(),
          now: steppingClock(),
          onApplied: (event) => done(keyOf(event.instanceKey, event.sequenceNumber)),
        }),
      poller: { concurrency: pollerConcurrency, onBatch },
    }),
};

const ceilingTarget: Target = {
  start: (done, onBatch) =>
    startBenchStack({
      handler: () => async (event: SQSEvent) => {
        for (const record of event.Records) done(keyOf(record.attributes.MessageGroupId ?? '', record.attributes.SequenceNumber ?? '0'));
        return { batchItemFailures: [] };
      },
      poller: { concurrency: pollerConcurrency, onBatch },
    }),
};

/**
 * From when each event was sent and when its settle was saved (`finished`, by key): the time from `started` to the
 * last settle, and the latency percentiles of the events whose send time is known.
 */
export function settleTimings(
  sentAt: ReadonlyMap<string, number>,
  finished: ReadonlyMap<string, number>,
  started: number,
): { durationMs: number; p50Ms: number; p99Ms: number } {
  const latencies: number[] = [];
  let last = started;
  for (const [key, at] of finished) {
    const sent = sentAt.get(key);
    if (sent !== undefined) latencies.push(at - sent);
    last = Math.max(last, at);
  }
  return { durationMs: last - started, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99) };
}

async function run(target: Target, rounds: readonly Message[][], timeoutMs: number, rate?: number): Promise<RunFindings> {
  const finished = new Map<string, number>();
  let batches = 0;
  const stack = await target.start(
    (key) => finished.set(key, performance.now()),
    () => (batches += 1),
  );
  const calls = countSqs(stack.clients.sqs);
  const sentAt = new Map<string, number>();
  const events = rounds.reduce((sum, round) => sum + round.length, 0);
  const started = performance.now();
  try {
    await (rate === undefined ? sendSaturated(stack, rounds, sentAt) : sendPaced(stack, rounds, rate, sentAt));
    while (finished.size < events && performance.now() - started < timeoutMs) await sleep(10);
  } finally {
    await stack.stop();
  }
  const { durationMs, p50Ms, p99Ms } = settleTimings(sentAt, finished, started);
  return {
    events,
    completed: finished.size,
    durationMs,
    throughput: (finished.size / durationMs) * 1000,
    p50Ms,
    p99Ms,
    batches,
    sqsCalls: Object.fromEntries(calls),
  };
}

export async function e2eSection(sizes: BenchSizes['e2e']): Promise<{ section: Section; findings: E2eFindings }> {
  const begun = performance.now();
  const rounds = messagesOf(mixedInstances(sizes.instances, 'e2e'), sizes.eventsPerInstance, `e2e-${Date.now()}`);
  const ceiling = await run(ceilingTarget, rounds, sizes.timeoutMs);
  const settle = await run(settleTarget, rounds, sizes.timeoutMs);
  const memory = await run(memoryTarget, rounds, sizes.timeoutMs);

  // Latency without a backlog: an open loop at half of what Settle sustained above.
  const pacedRate = Math.max(1, Math.round(settle.throughput / 2));
  const pacedPerInstance = Math.max(1, Math.ceil(sizes.pacedEvents / sizes.instances));
  const paced = messagesOf(mixedInstances(sizes.instances, 'paced'), pacedPerInstance, `paced-${Date.now()}`);
  const pacedCeiling = await run(ceilingTarget, paced, sizes.timeoutMs, pacedRate);
  const pacedSettle = await run(settleTarget, paced, sizes.timeoutMs, pacedRate);

  const findings: E2eFindings = { settle, memory, ceiling, pacedSettle, pacedCeiling, pacedRate, pollerConcurrency };
  return { section: e2eSectionOf(findings, sizes, performance.now() - begun), findings };
}

function e2eSectionOf(f: E2eFindings, sizes: BenchSizes['e2e'], durationMs: number): Section {
  const complete = (r: RunFindings) =>
    r.completed === r.events ? undefined : `only ${r.completed} of ${r.events} finished within ${sizes.timeoutMs / 1000} s`;
  const recordsPerBatch = (r: RunFindings) => r.completed / Math.max(1, r.batches);
  const figures: Figure[] = [
    compared(
      'saturated · throughput (send → saved settle)',
      f.settle.throughput,
      'events/s',
      { name: 'emulators alone', value: f.ceiling.throughput },
      {
        note: [
          `${f.settle.completed} events in ${formatNumber(f.settle.durationMs / 1000)} s; ${formatNumber(recordsPerBatch(f.settle))} records per batch`,
          complete(f.settle),
          complete(f.ceiling),
        ]
          .filter(Boolean)
          .join('; '),
      },
    ),
    compared(
      'saturated · throughput, worker on MemoryStore',
      f.memory.throughput,
      'events/s',
      { name: 'emulators alone', value: f.ceiling.throughput },
      {
        note: ["the same run with the worker storing in memory: what is left is the worker's own CPU", complete(f.memory)]
          .filter(Boolean)
          .join('; '),
      },
    ),
    compared(
      'saturated · p50 latency',
      f.settle.p50Ms,
      'ms',
      { name: 'emulators alone', value: f.ceiling.p50Ms },
      { note: 'mostly time spent queued behind the backlog' },
    ),
    compared('saturated · p99 latency', f.settle.p99Ms, 'ms', { name: 'emulators alone', value: f.ceiling.p99Ms }),
    compared(
      `paced at ${formatNumber(f.pacedRate)} events/s · p50 latency`,
      f.pacedSettle.p50Ms,
      'ms',
      { name: 'emulators alone', value: f.pacedCeiling.p50Ms },
      {
        note: [`${f.pacedSettle.completed} events`, complete(f.pacedSettle), complete(f.pacedCeiling)].filter(Boolean).join('; '),
      },
    ),
    compared(`paced at ${formatNumber(f.pacedRate)} events/s · p99 latency`, f.pacedSettle.p99Ms, 'ms', {
      name: 'emulators alone',
      value: f.pacedCeiling.p99Ms,
    }),
  ];
  const perEvent = (r: RunFindings, action: string) => (r.sqsCalls[action] ?? 0) / Math.max(1, r.completed);
  for (const action of ['SendMessageBatch', 'ReceiveMessage', 'DeleteMessageBatch']) {
    figures.push(
      compared(`saturated · SQS ${action} per event`, perEvent(f.settle, action), 'requests', {
        name: 'emulators alone',
        value: perEvent(f.ceiling, action),
      }),
    );
  }
  return {
    id: 'e2e',
    title: '3. End to end on the local stack (fauxqs + dynalite + poller + worker, one process)',
    figures,
    notes: [
      `${sizes.instances} instances (the four example machines in turn) × ${sizes.eventsPerInstance} events, sent with SendMessageBatch (10 instances per call, the calls of one event index in parallel, event indexes in order so each group stays in order).`,
      `Latency: from just before the SendMessageBatch call to the stack's onApplied (called after the conditional write); the ceiling's "done" is its no-op handler seeing the record. Poller concurrency ${f.pollerConcurrency} (the stack's default), batches of up to 10.`,
      "Emulators alone: the same messages through the same fauxqs and poller with a handler that does nothing (send + receive + delete), so the ratio is Settle's share of the local stack's cost.",
      'fauxqs hands out at most one message per group per receive, so local batches never hold two records of one instance (real SQS may): every event here pays its own read and write.',
      "Everything — emulators, poller, worker, sender — shares one Node process (one core for JavaScript); the figures are the local stack's, not AWS's.",
      "The stack's SQS and DynamoDB clients hand their requests to the emulators in this process (local/in-process.ts: no loopback socket), sign with a no-op signer and skip the logger and user-agent middleware (issue 16); `npx tsx bench/e2e-compare.ts` runs this stack beside another checkout's.",
    ],
    durationMs,
  };
}
