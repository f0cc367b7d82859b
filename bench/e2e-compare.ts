/**
 * The local stack of this tree beside the local stack of another checkout (the code before a change), in one
 * process, alternating round by round: each round starts a fresh stack of each (its own emulators, clients,
 * poller and worker, with that tree's defaults), sends it the same saturated load through its own SQS client
 * (SendMessageBatch, 10 instances per call, the calls of one event index in parallel, event indexes in
 * order) and times send → saved settle (onApplied). Prints per-round figures, medians and the paired ratios.
 *
 * @example
 * git worktree add /tmp/settle-base-e2e d24b9d0 && ln -s "$PWD/node_modules" /tmp/settle-base-e2e/node_modules
 * npx tsx bench/e2e-compare.ts --base /tmp/settle-base-e2e --instances 500 --events 10 --rounds 5
 * npx tsx bench/e2e-compare.ts --only current --rounds 1   # one tree alone, e.g. under node --cpu-prof
 * npx tsx bench/e2e-compare.ts --trees local-only=/tmp/settle-local-e2e   # a third tree beside both
 */
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { sleep } from './harness.ts';
import { keyOf, type Message, messagesOf, mixedInstances, sendSaturated, settleTimings } from './sections/e2e.ts';
import { steppingClock } from './workloads.ts';

interface StackLike {
  readonly queueUrl: string;
  readonly clients: { readonly sqs: SQSClient };
  stop(): Promise<void>;
}

type StartStack = (options: Record<string, unknown>) => Promise<StackLike>;

interface Tree {
  readonly name: string;
  readonly start: StartStack;
  readonly registry: unknown;
  readonly silentLogger: unknown;
}

export interface Round {
  readonly events: number;
  readonly completed: number;
  readonly throughput: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Events per second of this process's CPU time (user + system) during the run: steadier on a loaded box. */
  readonly perCpuSecond: number;
}

async function loadTree(name: string, root: string): Promise<Tree> {
  const url = (path: string) => pathToFileURL(join(root, path)).href;
  const [stack, machines, log] = await Promise.all([
    import(url('local/stack.ts')) as Promise<{ startLocalStack: StartStack }>,
    import(url('machines/index.ts')) as Promise<{ registry: unknown }>,
    import(url('local/log.ts')) as Promise<{ silentLogger: unknown }>,
  ]);
  return { name, start: stack.startLocalStack, registry: machines.registry, silentLogger: log.silentLogger };
}

/** One saturated run of `rounds` against a fresh stack of `tree`. */
export async function runOnce(tree: Tree, rounds: readonly Message[][], timeoutMs: number): Promise<Round> {
  const finished = new Map<string, number>();
  const stack = await tree.start({
    registry: tree.registry,
    now: steppingClock(),
    logger: tree.silentLogger,
    sweeper: null,
    onApplied: (event: { instanceKey: string; sequenceNumber: string }) =>
      finished.set(keyOf(event.instanceKey, event.sequenceNumber), performance.now()),
    poller: { waitTimeSeconds: 1 },
  });
  const sentAt = new Map<string, number>();
  let cpu = { user: 0, system: 0 };
  const events = rounds.reduce((sum, round) => sum + round.length, 0);
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  try {
    await sendSaturated(stack, rounds, sentAt);
    while (finished.size < events && performance.now() - started < timeoutMs) await sleep(5);
  } finally {
    cpu = process.cpuUsage(cpuBefore);
    await stack.stop();
  }
  const { durationMs, p50Ms, p99Ms } = settleTimings(sentAt, finished, started);
  return {
    events,
    completed: finished.size,
    throughput: (finished.size / durationMs) * 1000,
    p50Ms,
    p99Ms,
    perCpuSecond: finished.size / ((cpu.user + cpu.system) / 1e6),
  };
}

const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? Number.NaN) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
};

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      base: { type: 'string', default: '/tmp/settle-base-e2e' },
      instances: { type: 'string', default: '500' },
      events: { type: 'string', default: '10' },
      rounds: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '1' },
      only: { type: 'string' },
      /** More trees beside baseline and current, as name=path pairs separated by commas. */
      trees: { type: 'string' },
      timeout: { type: 'string', default: '240' },
    },
  });
  const here = resolve(import.meta.dirname, '..');
  const trees: Tree[] = [];
  if (values.only !== 'current') trees.push(await loadTree('baseline', resolve(values.base)));
  for (const pair of values.trees?.split(',') ?? []) {
    const [name = '', path = ''] = pair.split('=');
    trees.push(await loadTree(name, resolve(path)));
  }
  if (values.only !== 'baseline') trees.push(await loadTree('current', here));
  const instances = Number(values.instances);
  const eventsPerInstance = Number(values.events);
  const roundsWanted = Number(values.rounds);
  const warmup = Number(values.warmup);
  const timeoutMs = Number(values.timeout) * 1000;
  console.log(
    `load: ${instances} instances × ${eventsPerInstance} events = ${instances * eventsPerInstance} events per run; ` +
      `${warmup} warm-up + ${roundsWanted} measured rounds, order alternating`,
  );
  const results = new Map<string, Round[]>(trees.map((tree) => [tree.name, []]));
  for (let round = 0; round < warmup + roundsWanted; round += 1) {
    const order = trees.map((_, i) => trees[(i + round) % trees.length] as Tree);
    for (const tree of order) {
      const messages = messagesOf(mixedInstances(instances, `r${round}`), eventsPerInstance, `${tree.name}-${round}-${Date.now()}`);
      const result = await runOnce(tree, messages, timeoutMs);
      const label = round < warmup ? 'warm-up' : `round ${round - warmup + 1}`;
      console.log(
        `${label} ${tree.name.padEnd(20)} ${result.throughput.toFixed(0).padStart(6)} events/s  p50 ${result.p50Ms.toFixed(0)} ms  ` +
          `p99 ${result.p99Ms.toFixed(0)} ms  ${result.perCpuSecond.toFixed(0)} events/CPU-s  ${result.completed}/${result.events}`,
      );
      if (round >= warmup) results.get(tree.name)?.push(result);
    }
  }
  for (const [name, rounds] of results) {
    console.log(
      `${name.padEnd(20)} median ${median(rounds.map((r) => r.throughput)).toFixed(0)} events/s, ` +
        `p50 ${median(rounds.map((r) => r.p50Ms)).toFixed(0)} ms, p99 ${median(rounds.map((r) => r.p99Ms)).toFixed(0)} ms, ` +
        `${median(rounds.map((r) => r.perCpuSecond)).toFixed(0)} events/CPU-s`,
    );
  }
  const base = results.get('baseline');
  for (const [name, current] of results) {
    if (!base || name === 'baseline') continue;
    console.log(`${name} against baseline:`);
    const ratios = current.map((r, i) => r.throughput / (base[i]?.throughput ?? Number.NaN));
    console.log(
      `paired throughput ratios current/baseline: ${ratios.map((r) => r.toFixed(2)).join(', ')}; median ${median(ratios).toFixed(2)}×`,
    );
    const cpuRatios = current.map((r, i) => r.perCpuSecond / (base[i]?.perCpuSecond ?? Number.NaN));
    console.log(`paired events/CPU-s ratios: ${cpuRatios.map((r) => r.toFixed(2)).join(', ')}; median ${median(cpuRatios).toFixed(2)}×`);
  }
}

await main();
