/**
 * §9 Large payloads: the offload path beside the inline one, in one run, the two alternating round by round so
 * that the box's noise hits both alike.
 *
 * - Snapshots: saved and restored through the real `DynamoStore` on the local stack's dynalite, once with no
 *   payload bucket (inline, gzipped in the item) and once with `S3PayloadStore` on fauxqs's S3 and `aboveBytes: 0`
 *   (always offloaded), as the worker does it: read the item, then write the next version under its condition.
 * - Events: `SettleClient.send` to the worker's `onApplied` (after the instance's write) through the local stack,
 *   the same sizes inline (`eventOffloadBytes` at SQS's cap) and by claim check (`eventOffloadBytes: 0`).
 * - Cost on AWS, computed from the units and requests counted here at list prices (bench/prices.ts).
 */
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { assign, setup } from 'xstate';
import { SettleClient } from '../../client/settle-client.ts';
import type { AppliedEvent, LocalStack } from '../../local/stack.ts';
import { DynamoStore } from '../../runtime/aws/dynamo-store.ts';
import { S3PayloadStore } from '../../runtime/aws/s3-payloads.ts';
import { defaults } from '../../runtime/core/config.ts';
import { maxEventBytes } from '../../runtime/core/event.ts';
import { maxItemBytes } from '../../runtime/core/item.ts';
import { maxOffloadedEventBytes, type PayloadStore } from '../../runtime/core/payloads.ts';
import { defineRegistry, type PersistedSnapshot } from '../../runtime/core/registry.ts';
import { payloadBucketDefinition } from '../../runtime/core/resources.ts';
import type { HistoryEntry, InstanceRecord } from '../../runtime/core/store.ts';
import { countedLocalClients } from '../counting-dynamo.ts';
import { collectGarbage, median, percentile } from '../harness.ts';
import { startBenchStack } from '../local.ts';
import type { BenchSizes } from '../options.ts';
import { daysPerMonth, lambdaMemoryGb, priceSource, prices } from '../prices.ts';
import { compared, formatNumber, type Figure, type Section } from '../report.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
const GB = 2 ** 30;
/** SQS bills a request per 64 KB chunk of its payload. */
const sqsChunkBytes = 64 * KiB;

type Arm = 'inline' | 'offloaded';
const arms: readonly Arm[] = ['inline', 'offloaded'];

/** Every request the payload bucket is asked for, counted at the port: fauxqs cannot tag, so a supersede is a no-op there. */
class CountingPayloads implements PayloadStore {
  readonly calls = { put: 0, get: 0, supersede: 0, remove: 0 };

  constructor(private readonly inner: PayloadStore) {}

  get bucket(): string {
    return this.inner.bucket;
  }

  put(key: string, body: Uint8Array): Promise<void> {
    this.calls.put += 1;
    return this.inner.put(key, body);
  }

  get(key: string): Promise<Uint8Array | undefined> {
    this.calls.get += 1;
    return this.inner.get(key);
  }

  supersede(key: string): Promise<void> {
    this.calls.supersede += 1;
    return this.inner.supersede(key);
  }

  remove(key: string): Promise<void> {
    this.calls.remove += 1;
    return this.inner.remove(key);
  }
}

/** Incompressible text (as test/payloads.test.ts's `noise`): gzip takes base64 of random bytes to ≈ ¾ of its size. */
function noise(bytes: number): string {
  return randomBytes(Math.ceil((bytes * 3) / 4) + 3)
    .toString('base64')
    .slice(0, bytes);
}

function snapshotOf(touches: number, data: string): PersistedSnapshot {
  return { status: 'active', value: 'open', historyValue: {}, context: { touches, data }, children: {} };
}

const gzipOf = (data: string) => gzipSync(JSON.stringify(snapshotOf(0, data))).byteLength;

/** Context data whose snapshot gzips to `target` bytes, give or take a few. */
function dataGzippingTo(target: number): string {
  const pool = noise(Math.ceil(target * 1.5) + 1024);
  let length = Math.round((target * 4) / 3);
  for (let attempt = 0; attempt < 6; attempt += 1) {
    const gz = gzipOf(pool.slice(0, length));
    if (Math.abs(gz - target) <= 8) break;
    length = Math.min(pool.length, Math.max(1, length + Math.round(((target - gz) * 4) / 3)));
  }
  return pool.slice(0, length);
}

/** Context data whose snapshot is `target` bytes of JSON. */
function dataOfJson(target: number): string {
  return noise(target - Buffer.byteLength(JSON.stringify(snapshotOf(0, ''))));
}

/** The version each instance is created at: past `historyLimit`, so every item carries a full history. */
const firstVersion = 100;
const sequenceOf = (n: number) => `18${String(n).padStart(18, '0')}`;
const at = (n: number) => new Date(Date.UTC(2026, 0, 1) + n * 1000).toISOString();

/** The last `historyLimit` entries, as a busy instance has them: the item's part that is not the snapshot. */
function historyOf(version: number): HistoryEntry[] {
  const first = Math.max(1, version - defaults.historyLimit + 1);
  return Array.from({ length: version - first + 1 }, (_, i) => ({
    seq: sequenceOf(first + i),
    type: 'ADD',
    outcome: 'resolve' as const,
    at: at(first + i),
  }));
}

/** The record a worker would save after the event `version`: the same for both arms but for its key. */
function recordOf(pk: string, version: number, data: string, stored?: InstanceRecord): InstanceRecord {
  return {
    pk,
    machine: 'blob',
    machineVersion: 1,
    snapshot: snapshotOf(version, data),
    status: 'active',
    value: 'open',
    states: ['open'],
    tags: ['resolve'],
    timers: [],
    version,
    lastSeq: sequenceOf(version),
    outcome: 'resolve',
    wakeAt: undefined,
    wakeShard: undefined,
    history: historyOf(version),
    letters: [],
    createdAt: at(0),
    updatedAt: at(version),
    ...(stored?.snapshotRef ? { snapshotRef: stored.snapshotRef } : {}),
  };
}

export interface SnapshotArmFindings {
  /** Per measured round, ms: the conditional write (gzip, the object's PUT, the item, the previous object's tag). */
  readonly writeMs: readonly number[];
  /** Per measured round, ms: the consistent read (the item, the object's GET, gunzip, parse). */
  readonly readMs: readonly number[];
  /** Per measured round, CPU ms of this process (emulators included) during the write and the read. */
  readonly writeCpuMs: readonly number[];
  readonly readCpuMs: readonly number[];
  /** Write units per save, as dynalite meters them. */
  readonly writeUnits: number;
  /** Read units per restore (strongly consistent), as dynalite meters them. */
  readonly readUnits: number;
  /** The item written, by DynamoDB's size rules (bench/counting-dynamo.ts), mean over the saves. */
  readonly itemBytes: number;
  /** Payload-bucket requests per save and per restore. */
  readonly perSave: { readonly put: number; readonly tag: number; readonly remove: number };
  readonly perRestore: { readonly get: number };
}

export interface SnapshotFindings {
  readonly label: string;
  readonly jsonBytes: number;
  readonly gzipBytes: number;
  readonly arms: Partial<Record<Arm, SnapshotArmFindings>>;
}

export interface EventArmFindings {
  /** Per measured round, ms from `client.send` to the worker's `onApplied` (after its write). */
  readonly appliedMs: readonly number[];
  /** Per measured round, ms until `client.send` returned (the claim check's PUT included). */
  readonly sentMs: readonly number[];
  /** The message body SQS carried, bytes. */
  readonly sqsBodyBytes: number;
  /** Payload-bucket requests per event (client's PUT, worker's GET). */
  readonly s3Puts: number;
  readonly s3Gets: number;
}

export interface EventFindings {
  readonly kib: number;
  readonly bodyBytes: number;
  readonly arms: Partial<Record<'inline' | 'claim', EventArmFindings>>;
}

export interface PayloadFindings {
  readonly snapshots: readonly SnapshotFindings[];
  readonly events: readonly EventFindings[];
}

/** Untimed rounds of the first size measured: it warms up the code paths of every size after it. */
const firstWarmup = (sizes: BenchSizes['payloads']) => sizes.warmup * 4;
const cpuMs = (usage: NodeJS.CpuUsage) => (usage.user + usage.system) / 1000;

function rotate<T>(items: readonly T[], by: number): T[] {
  const shift = by % Math.max(1, items.length);
  return [...items.slice(shift), ...items.slice(0, shift)];
}

/** Saves and restores a snapshot of each size through both stores, alternating, after `warmup` untimed rounds. */
async function snapshotRuns(stack: LocalStack, sizes: BenchSizes['payloads']): Promise<SnapshotFindings[]> {
  const clients = countedLocalClients(stack.endpoints);
  const { counter } = clients;
  const payloads = new CountingPayloads(new S3PayloadStore(stack.bucketName, { client: clients.s3, tagging: false }));
  const stores: Record<Arm, DynamoStore> = {
    inline: new DynamoStore(stack.tableName, clients.document),
    offloaded: new DynamoStore(stack.tableName, clients.document, { payloads, aboveBytes: 0 }),
  };
  const cases = [
    ...sizes.snapshotKib.map((kib) => ({ name: `${kib}k`, data: dataGzippingTo(kib * KiB), rounds: sizes.snapshotRounds })),
    {
      name: `${sizes.largeSnapshotMib}m`,
      data: dataOfJson(sizes.largeSnapshotMib * MiB),
      rounds: Math.max(1, Math.ceil(sizes.snapshotRounds / 2)),
    },
  ];
  const findings: SnapshotFindings[] = [];
  try {
    for (const [index, { name, data, rounds }] of cases.entries()) {
      const large = index === cases.length - 1;
      const jsonBytes = Buffer.byteLength(JSON.stringify(snapshotOf(0, data)));
      const gzipBytes = gzipOf(data);
      const pkOf = (arm: Arm) => `blob/${arm === 'inline' ? 'inline' : 'bucket'}-${name}`;
      // Inline only where the item can hold it.
      const measured = arms.filter((arm) => {
        if (arm === 'offloaded') return true;
        try {
          stores.inline.checkFits(recordOf(pkOf(arm), firstVersion, data));
          return true;
        } catch {
          return false;
        }
      });
      const samples = new Map(
        measured.map((arm) => [
          arm,
          {
            writeMs: [] as number[],
            readMs: [] as number[],
            writeCpuMs: [] as number[],
            readCpuMs: [] as number[],
            wru: 0,
            rru: 0,
            bytes: 0,
            put: 0,
            tag: 0,
            remove: 0,
            get: 0,
            n: 0,
          },
        ]),
      );
      // Created at a version whose history is already full, as a busy instance's is.
      for (const arm of measured) await stores[arm].write(recordOf(pkOf(arm), firstVersion, data), undefined);
      // The first size also warms up both code paths (the S3 client's, dynalite's), so it gets more untimed rounds.
      const warmup = index === 0 ? firstWarmup(sizes) : sizes.warmup;
      for (let round = 0; round < warmup + rounds; round += 1) {
        for (const arm of rotate(measured, round)) {
          const store = stores[arm];
          collectGarbage();
          const before = { wru: counter.consumedWrite, rru: counter.consumedRead, writes: counter.writes.length, ...payloads.calls };
          const readCpu = process.cpuUsage();
          const readStarted = performance.now();
          const stored = await store.read(pkOf(arm));
          const readMs = performance.now() - readStarted;
          const readCpuMs = cpuMs(process.cpuUsage(readCpu));
          const context = (stored?.snapshot as { context?: { touches?: number; data?: string } } | undefined)?.context;
          if (!stored || context?.data?.length !== data.length || context.touches !== stored.version) {
            throw new Error(`${pkOf(arm)} did not read back the snapshot it saved (version ${stored?.version})`);
          }
          if ((stored.snapshotRef !== undefined) !== (arm === 'offloaded')) {
            throw new Error(`${pkOf(arm)}: the snapshot is ${stored.snapshotRef ? '' : 'not '}in the bucket`);
          }
          const writeCpu = process.cpuUsage();
          const writeStarted = performance.now();
          await store.write(recordOf(pkOf(arm), stored.version + 1, data, stored), stored.version);
          const writeMs = performance.now() - writeStarted;
          const writeCpuMs = cpuMs(process.cpuUsage(writeCpu));
          if (round < warmup) continue;
          const sample = samples.get(arm);
          if (!sample) continue;
          sample.writeMs.push(writeMs);
          sample.readMs.push(readMs);
          sample.writeCpuMs.push(writeCpuMs);
          sample.readCpuMs.push(readCpuMs);
          sample.wru += counter.consumedWrite - before.wru;
          sample.rru += counter.consumedRead - before.rru;
          sample.bytes += counter.writes.slice(before.writes).reduce((sum, write) => sum + write.bytes, 0);
          sample.put += payloads.calls.put - before.put;
          sample.tag += payloads.calls.supersede - before.supersede;
          sample.remove += payloads.calls.remove - before.remove;
          sample.get += payloads.calls.get - before.get;
          sample.n += 1;
        }
      }
      const found: Partial<Record<Arm, SnapshotArmFindings>> = {};
      for (const [arm, s] of samples) {
        const n = Math.max(1, s.n);
        found[arm] = {
          writeMs: s.writeMs,
          readMs: s.readMs,
          writeCpuMs: s.writeCpuMs,
          readCpuMs: s.readCpuMs,
          writeUnits: s.wru / n,
          readUnits: s.rru / n,
          itemBytes: s.bytes / n,
          perSave: { put: s.put / n, tag: s.tag / n, remove: s.remove / n },
          perRestore: { get: s.get / n },
        };
      }
      const label = large
        ? `${formatNumber(jsonBytes / MiB)} MiB of JSON (${formatNumber(gzipBytes / KiB)} KiB gzipped)`
        : `${formatNumber(gzipBytes / KiB)} KiB gzipped (${formatNumber(jsonBytes / KiB)} KiB of JSON)`;
      findings.push({ label, jsonBytes, gzipBytes, arms: found });
    }
  } finally {
    clients.destroy();
  }
  return findings;
}

/** Keeps a count of what it is sent, and how large each event is: its context never holds the payload. */
const sinkMachine = setup({
  types: {
    context: {} as { events: number; bytes: number },
    events: {} as { type: 'PUT'; data: string },
  },
}).createMachine({
  id: 'sink',
  context: { events: 0, bytes: 0 },
  initial: 'open',
  states: {
    open: {
      tags: ['resolve'],
      on: {
        PUT: {
          actions: assign({
            events: ({ context }) => context.events + 1,
            bytes: ({ context, event }) => context.bytes + event.data.length,
          }),
        },
      },
    },
  },
});

const sinkRegistry = defineRegistry({ sink: { machine: sinkMachine, version: 1 } });

/** Counts S3 PUTs and GETs, and the bytes of SQS message bodies sent, on the stack's shared clients. */
function countRequests(s3: S3Client, sqs: SQSClient): { puts: number; gets: number; sqsBodyBytes: number } {
  const counts = { puts: 0, gets: 0, sqsBodyBytes: 0 };
  s3.middlewareStack.add(
    (next, context) => async (args) => {
      const command = (context as { commandName?: string }).commandName;
      if (command === 'PutObjectCommand') counts.puts += 1;
      if (command === 'GetObjectCommand') counts.gets += 1;
      return next(args);
    },
    { step: 'initialize', name: 'settleBenchS3Counter' },
  );
  sqs.middlewareStack.add(
    (next, context) => async (args) => {
      if ((context as { commandName?: string }).commandName === 'SendMessageCommand') {
        counts.sqsBodyBytes += Buffer.byteLength(String((args.input as { MessageBody?: string }).MessageBody ?? ''));
      }
      return next(args);
    },
    { step: 'initialize', name: 'settleBenchSqsBodyCounter' },
  );
  return counts;
}

const emptyBody = Buffer.byteLength(JSON.stringify({ type: 'PUT', data: '' }));

/** Sends events of each size inline and by claim check, alternating; the largest by claim check alone. */
async function eventRuns(
  stack: LocalStack,
  waiters: Map<string, (event: AppliedEvent) => void>,
  sizes: BenchSizes['payloads'],
): Promise<EventFindings[]> {
  const counts = countRequests(stack.clients.s3, stack.clients.sqs);
  const clientWith = (eventOffloadBytes: number) =>
    new SettleClient({
      queueUrl: stack.queueUrl,
      deadLetterQueueUrl: stack.deadLetterQueueUrl,
      tableName: stack.tableName,
      sqs: stack.clients.sqs,
      dynamodb: stack.clients.document,
      payloads: stack.payloads,
      registry: sinkRegistry,
      eventOffloadBytes,
    });
  // They share the stack's SDK clients, which the stack closes: never destroyed here.
  const clients = { inline: clientWith(maxEventBytes), claim: clientWith(0) };

  const timedSend = async (way: 'inline' | 'claim', id: string, data: string, timeoutMs: number) => {
    const key = `sink/${id}`;
    let appliedAt = 0;
    const applied = new Promise<AppliedEvent>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(key);
        reject(new Error(`${key}: no event applied within ${timeoutMs} ms`));
      }, timeoutMs);
      waiters.set(key, (event) => {
        appliedAt = performance.now();
        clearTimeout(timer);
        waiters.delete(key);
        resolve(event);
      });
    });
    applied.catch(() => undefined);
    const started = performance.now();
    const sent = await clients[way].send('sink', id, { type: 'PUT', data });
    const sentMs = performance.now() - started;
    const event = await applied;
    if (event.sequenceNumber !== sent.sequenceNumber || event.outcome !== 'resolve') {
      throw new Error(`${key}: applied ${event.sequenceNumber} (${event.outcome}), sent ${sent.sequenceNumber}`);
    }
    return { appliedMs: appliedAt - started, sentMs };
  };

  const cases = [
    ...sizes.eventKib.map((kib) => ({ kib, ways: ['inline', 'claim'] as const, rounds: sizes.eventRounds })),
    ...sizes.largeEventKib.map((kib) => ({ kib, ways: ['claim'] as const, rounds: sizes.largeRounds })),
  ];
  const findings: EventFindings[] = [];
  for (const [index, { kib, ways, rounds }] of cases.entries()) {
    const warmup = index === 0 ? firstWarmup(sizes) : sizes.warmup;
    const bodyBytes = kib * KiB;
    if (bodyBytes > maxOffloadedEventBytes) throw new Error(`${kib} KiB is over the ${maxOffloadedEventBytes}-byte event limit`);
    const timeoutMs = 30_000 + bodyBytes / 100;
    const samples = new Map(
      ways.map((way) => [way, { appliedMs: [] as number[], sentMs: [] as number[], body: 0, puts: 0, gets: 0, n: 0 }]),
    );
    // Round 0 creates each instance (never timed), then `warmup` rounds more.
    for (let round = 0; round < 1 + warmup + rounds; round += 1) {
      for (const way of rotate(ways, round)) {
        const data = noise(bodyBytes - emptyBody);
        collectGarbage();
        const before = { ...counts };
        const { appliedMs, sentMs } = await timedSend(way, `${way}-${kib}k`, data, timeoutMs);
        const sample = samples.get(way);
        if (round <= warmup || !sample) continue;
        sample.appliedMs.push(appliedMs);
        sample.sentMs.push(sentMs);
        sample.body += counts.sqsBodyBytes - before.sqsBodyBytes;
        sample.puts += counts.puts - before.puts;
        sample.gets += counts.gets - before.gets;
        sample.n += 1;
      }
    }
    const found: EventFindings['arms'] = {};
    for (const [way, s] of samples) {
      const n = Math.max(1, s.n);
      found[way] = { appliedMs: s.appliedMs, sentMs: s.sentMs, sqsBodyBytes: s.body / n, s3Puts: s.puts / n, s3Gets: s.gets / n };
    }
    findings.push({ kib, bodyBytes, arms: found });
  }
  return findings;
}

export async function payloadsSection(sizes: BenchSizes['payloads']): Promise<{ section: Section; findings: PayloadFindings }> {
  const started = performance.now();
  const waiters = new Map<string, (event: AppliedEvent) => void>();
  const stack = await startBenchStack({ registry: sinkRegistry, onApplied: (event) => waiters.get(event.instanceKey)?.(event) });
  let findings: PayloadFindings;
  try {
    const snapshots = await snapshotRuns(stack, sizes);
    const events = await eventRuns(stack, waiters, sizes);
    findings = { snapshots, events };
  } finally {
    await stack.stop();
  }
  return { section: payloadsSectionOf(findings, sizes, performance.now() - started), findings };
}

// ---- Cost on AWS, computed ----

/** What an item holds besides its snapshot, bytes: the rest of an inline item, and a whole offloaded one. */
export interface ItemOverhead {
  readonly inlineRest: number;
  readonly offloadedItem: number;
}

const writeUnits = (bytes: number) => Math.max(1, Math.ceil(bytes / KiB));
/** Strongly consistent: the worker and the client read with ConsistentRead. */
const readUnits = (bytes: number) => Math.max(1, Math.ceil(bytes / (4 * KiB)));
const storageDays = (bytes: number, days: number) => (bytes / GB) * prices.s3StorageGbMonth * (days / daysPerMonth);

/** Dollars per save of a snapshot gzipping to `gz` bytes. Index units are the same either way (no index projects the snapshot). */
export function saveCost(gz: number, overhead: ItemOverhead, offloaded: boolean): number {
  if (!offloaded) return writeUnits(overhead.inlineRest + gz) * prices.dynamoWriteUnit;
  // The new object, the item, the tag on the object it replaces, and that object kept until the lifecycle rule removes it.
  return (
    writeUnits(overhead.offloadedItem) * prices.dynamoWriteUnit +
    prices.s3PutRequest +
    prices.s3PutRequest +
    storageDays(gz, payloadBucketDefinition.supersededExpireAfterDays)
  );
}

/** Dollars per restore (strongly consistent read) of a snapshot gzipping to `gz` bytes. */
export function restoreCost(gz: number, overhead: ItemOverhead, offloaded: boolean): number {
  if (!offloaded) return readUnits(overhead.inlineRest + gz) * prices.dynamoReadUnit;
  return readUnits(overhead.offloadedItem) * prices.dynamoReadUnit + prices.s3GetRequest;
}

/** Dollars a month of keeping an instance's current snapshot, in the item or in the bucket. */
export function restingCost(gz: number, overhead: ItemOverhead, offloaded: boolean): number {
  if (!offloaded) return ((overhead.inlineRest + gz) / GB) * prices.dynamoStorageGbMonth;
  return (overhead.offloadedItem / GB) * prices.dynamoStorageGbMonth + (gz / GB) * prices.s3StorageGbMonth;
}

/** The smallest gzipped size, in 64-byte steps up to what an item holds, at which offloading costs no more than inline. */
export function breakEven(cost: (gz: number, offloaded: boolean) => number, overhead: ItemOverhead): number {
  for (let gz = 64; overhead.inlineRest + gz <= maxItemBytes; gz += 64) if (cost(gz, true) <= cost(gz, false)) return gz;
  return maxItemBytes - overhead.inlineRest;
}

/** Dollars per event of `bytes` on SQS FIFO: inline, or by claim check (S3 PUT and GET, the object kept until it expires). */
export function eventCost(bytes: number, claim: boolean): number {
  // SendMessage and its ReceiveMessage are billed a request per 64 KB chunk; the delete is the same either way.
  if (!claim) return 2 * Math.ceil(bytes / sqsChunkBytes) * prices.sqsFifoRequest;
  return (
    2 * prices.sqsFifoRequest +
    prices.s3PutRequest +
    prices.s3GetRequest +
    storageDays(bytes, payloadBucketDefinition.eventsExpireAfterDays)
  );
}

const perMillion = (dollars: number) => dollars * 1e6;
const ms = (values: readonly number[]) => median(values);
const spread = (values: readonly number[]) => `p25–p75 ${formatNumber(percentile(values, 25))}–${formatNumber(percentile(values, 75))} ms`;
const kib = (bytes: number) => `${formatNumber(bytes / KiB)} KiB`;
/** The median of round-by-round ratios: the two contenders of a round ran back to back, under the same load. */
export const pairedRatio = (values: readonly number[], baseline: readonly number[]) =>
  median(values.slice(0, baseline.length).map((value, i) => value / (baseline[i] ?? Number.NaN)));

/** The overhead the cost model uses: measured on the smallest snapshot saved both ways. */
export function overheadOf(snapshots: readonly SnapshotFindings[]): ItemOverhead {
  const both = snapshots.find((s) => s.arms.inline && s.arms.offloaded);
  const offloaded = snapshots.find((s) => s.arms.offloaded)?.arms.offloaded;
  return {
    inlineRest: both?.arms.inline ? Math.max(0, both.arms.inline.itemBytes - both.gzipBytes) : 2 * KiB,
    offloadedItem: offloaded?.itemBytes ?? 2 * KiB,
  };
}

function payloadsSectionOf(findings: PayloadFindings, sizes: BenchSizes['payloads'], durationMs: number): Section {
  const figures: Figure[] = [];
  const { snapshots, events } = findings;
  const largestInline = [...snapshots].reverse().find((s) => s.arms.inline);

  for (const s of snapshots) {
    const { inline, offloaded } = s.arms;
    if (!offloaded) continue;
    const base = inline
      ? { name: 'inline', of: inline }
      : largestInline?.arms.inline && { name: `inline, ${largestInline.label}`, of: largestInline.arms.inline };
    // Paired ratios and CPU only beside the same snapshot inline.
    const timing = (what: 'write' | 'read') => {
      const [wall, cpu] = what === 'write' ? (['writeMs', 'writeCpuMs'] as const) : (['readMs', 'readCpuMs'] as const);
      const parts = [`local; offloaded ${spread(offloaded[wall])}`];
      if (base) parts.push(`${base.name} ${spread(base.of[wall])}`);
      if (inline) {
        parts.push(
          `paired ratio ${formatNumber(pairedRatio(offloaded[wall], inline[wall]))}×`,
          `CPU (all threads) ${formatNumber(ms(offloaded[cpu]))} vs ${formatNumber(ms(inline[cpu]))} ms (${formatNumber(pairedRatio(offloaded[cpu], inline[cpu]))}×)`,
        );
      } else parts.push(`CPU ${formatNumber(ms(offloaded[cpu]))} ms`);
      return parts.join(', ');
    };
    const s3 = `S3 per save: ${formatNumber(offloaded.perSave.put)} PUT + ${formatNumber(offloaded.perSave.tag)} tagging${offloaded.perSave.remove ? ` + ${formatNumber(offloaded.perSave.remove)} DELETE` : ''}`;
    figures.push(
      compared(
        `snapshot ${s.label} · save, ms, offloaded`,
        ms(offloaded.writeMs),
        'ms',
        base && { name: base.name, value: ms(base.of.writeMs) },
        {
          note: `${timing('write')}; ${s3}`,
        },
      ),
      compared(
        `snapshot ${s.label} · restore, ms, offloaded`,
        ms(offloaded.readMs),
        'ms',
        base && { name: base.name, value: ms(base.of.readMs) },
        {
          note: `${timing('read')}; S3 per restore: ${formatNumber(offloaded.perRestore.get)} GET`,
        },
      ),
      compared(
        `snapshot ${s.label} · write units per save, offloaded`,
        offloaded.writeUnits,
        'WRU',
        inline && { name: 'inline', value: inline.writeUnits },
        {
          note: `metered by dynalite; item ${kib(offloaded.itemBytes)}${inline ? ` (inline ${kib(inline.itemBytes)})` : ''}, by DynamoDB's size rules`,
        },
      ),
      compared(
        `snapshot ${s.label} · read units per restore, offloaded`,
        offloaded.readUnits,
        'RRU',
        inline && { name: 'inline', value: inline.readUnits },
        { note: 'metered by dynalite; strongly consistent' },
      ),
    );
  }

  const largestInlineEvent = [...events].reverse().find((e) => e.arms.inline);
  for (const e of events) {
    const { inline, claim } = e.arms;
    if (!claim) continue;
    const base = inline
      ? { name: 'inline', of: inline }
      : largestInlineEvent?.arms.inline && { name: `inline, ${largestInlineEvent.kib} KiB`, of: largestInlineEvent.arms.inline };
    figures.push(
      compared(
        `event ${kib(e.bodyBytes)} · send → applied, ms, claim check`,
        ms(claim.appliedMs),
        'ms',
        base && { name: base.name, value: ms(base.of.appliedMs) },
        {
          note:
            `local; claim check ${spread(claim.appliedMs)}${base ? `, ${base.name} ${spread(base.of.appliedMs)}` : ''}` +
            `${inline ? `, paired ratio ${formatNumber(pairedRatio(claim.appliedMs, inline.appliedMs))}×` : ''}; ` +
            `send() returned after ${formatNumber(ms(claim.sentMs))} ms${base ? ` (${base.name} ${formatNumber(ms(base.of.sentMs))} ms)` : ''}; ` +
            `SQS body ${formatNumber(claim.sqsBodyBytes)} bytes${inline ? ` (inline ${formatNumber(inline.sqsBodyBytes)})` : ''}; ` +
            `S3 per event: ${formatNumber(claim.s3Puts)} PUT + ${formatNumber(claim.s3Gets)} GET`,
        },
      ),
    );
  }

  // Cost on AWS, computed from the item sizes measured above.
  const overhead = overheadOf(snapshots);
  const costSizes = [...new Set([16, 32, 64, 128, 200, 350, ...snapshots.map((s) => Math.round(s.gzipBytes / KiB))])].sort((a, b) => a - b);
  for (const sizeKib of costSizes) {
    const gz = sizeKib * KiB;
    const fits = overhead.inlineRest + gz <= maxItemBytes;
    const label = sizeKib >= 1024 ? `${formatNumber(sizeKib / 1024)} MiB` : `${sizeKib} KiB`;
    figures.push(
      compared(
        `cost · snapshot ${label} gzipped · per save, offloaded`,
        perMillion(saveCost(gz, overhead, true)),
        '$/M',
        fits ? { name: 'inline', value: perMillion(saveCost(gz, overhead, false)) } : undefined,
        {
          note: `offloaded: ${writeUnits(overhead.offloadedItem)} WRU + PUT + tagging + ${payloadBucketDefinition.supersededExpireAfterDays} day of the superseded object${fits ? `; inline: ${writeUnits(overhead.inlineRest + gz)} WRU` : '; cannot be inline'}`,
        },
      ),
      compared(
        `cost · snapshot ${label} gzipped · per restore, offloaded`,
        perMillion(restoreCost(gz, overhead, true)),
        '$/M',
        fits ? { name: 'inline', value: perMillion(restoreCost(gz, overhead, false)) } : undefined,
        {
          note: `offloaded: ${readUnits(overhead.offloadedItem)} RRU + GET${fits ? `; inline: ${readUnits(overhead.inlineRest + gz)} RRU` : ''}`,
        },
      ),
    );
  }
  const threshold = {
    name: `default snapshotOffloadBytes (${defaults.snapshotOffloadBytes / KiB} KiB)`,
    value: defaults.snapshotOffloadBytes / KiB,
  };
  const evenSave = breakEven((gz, off) => saveCost(gz, overhead, off), overhead);
  const evenRestore = breakEven((gz, off) => restoreCost(gz, overhead, off), overhead);
  const evenBoth = breakEven((gz, off) => saveCost(gz, overhead, off) + restoreCost(gz, overhead, off), overhead);
  const atThreshold = defaults.snapshotOffloadBytes;
  const eventInline = saveCost(atThreshold, overhead, false) + restoreCost(atThreshold, overhead, false);
  const eventOffloaded = saveCost(atThreshold, overhead, true) + restoreCost(atThreshold, overhead, true);
  figures.push(
    compared('cost · break-even gzipped snapshot, restore + save (one event per batch)', evenBoth / KiB, 'KiB', threshold, {
      note: `above it offloading is cheaper; at the default threshold inline costs ${formatNumber(perMillion(eventInline))} $/M restore+save, offloaded ${formatNumber(perMillion(eventOffloaded))} (${formatNumber(eventInline / eventOffloaded)}×)`,
    }),
    compared('cost · break-even gzipped snapshot, save alone', evenSave / KiB, 'KiB', threshold),
    compared('cost · break-even gzipped snapshot, restore alone', evenRestore / KiB, 'KiB', threshold),
    compared(
      `cost · resting instance with a ${defaults.snapshotOffloadBytes / KiB} KiB gzipped snapshot, per month, offloaded`,
      perMillion(restingCost(atThreshold, overhead, true)),
      '$/M instance-months',
      { name: 'inline', value: perMillion(restingCost(atThreshold, overhead, false)) },
      { note: `DynamoDB $${prices.dynamoStorageGbMonth}/GB-month, S3 Standard $${prices.s3StorageGbMonth}/GB-month` },
    ),
  );
  for (const e of events) {
    const fits = e.bodyBytes <= maxEventBytes;
    figures.push(
      compared(
        `cost · event ${kib(e.bodyBytes)} · claim check`,
        perMillion(eventCost(e.bodyBytes, true)),
        '$/M',
        fits ? { name: 'inline', value: perMillion(eventCost(e.bodyBytes, false)) } : undefined,
        {
          note: `claim check: 2 SQS requests + PUT + GET + the object ${payloadBucketDefinition.eventsExpireAfterDays} days${fits ? `; inline: ${2 * Math.ceil(e.bodyBytes / sqsChunkBytes)} SQS requests (64 KB chunks, send + receive)` : `; over SQS's ${maxEventBytes} bytes`}`,
        },
      ),
    );
  }

  return {
    id: 'payloads',
    title: '9. Large payloads: the offload path beside the inline one (DynamoStore + S3PayloadStore, local stack)',
    figures,
    notes: [
      `Snapshots: the same records saved and restored through DynamoStore on dynalite, inline (no payload bucket: gzipped in the item) and offloaded (S3PayloadStore on fauxqs's S3, aboveBytes 0), alternating every round (order rotated); per size ${sizes.warmup} untimed round(s) (${firstWarmup(sizes)} for the first), then ${sizes.snapshotRounds} measured (half as many for the largest); each round reads the item (restore), then writes the next version under its condition (save), as the worker does. Contexts are random base64 (incompressible: gzip keeps ≈ ¾); every item has a full history (${defaults.historyLimit} entries). Medians; 'inline' only where the item holds the snapshot.`,
      `Events: SettleClient.send to the worker's onApplied (after the instance's write), through fauxqs's SQS, the Lambda-like poller and the worker, one event at a time; the same sizes inline (eventOffloadBytes ${maxEventBytes}) and by claim check (eventOffloadBytes 0), alternating; the largest by claim check alone (${sizes.largeRounds} measured round(s) each). The machine keeps a count, never the payload.`,
      "Absolute times are the local stack's: emulators in this process, no network. On AWS each S3 request adds ≈ 10–30 ms (more for MiB objects), DynamoDB ≈ 5–10 ms; not measured here. fauxqs cannot tag objects, so the tagging request that supersedes the previous object is counted, not timed (on AWS it is one more S3 round trip per save, after the item's write).",
      `Cost: computed at ${priceSource}: DynamoDB on-demand $${prices.dynamoWriteUnit * 1e6}/M WRU (1 KB), $${prices.dynamoReadUnit * 1e6}/M RRU (4 KB, strongly consistent); S3 Standard $${prices.s3PutRequest * 1000}/1,000 PUT (tagging is a PUT-class request), $${prices.s3GetRequest * 1000}/1,000 GET, $${prices.s3StorageGbMonth}/GB-month; SQS FIFO $${prices.sqsFifoRequest * 1e6}/M requests per 64 KB chunk. Item overheads measured above: ${kib(overhead.inlineRest)} besides the snapshot inline, ${kib(overhead.offloadedItem)} for a whole offloaded item. Index units are the same either way (no index projects the snapshot) and are left out; so are Lambda's (the S3 round trips on AWS, ≈ 40–60 ms per event at ${lambdaMemoryGb * 1024} MB, would add ≈ $${formatNumber(0.04 * lambdaMemoryGb * prices.lambdaArmGbSecond * 1e6)}–${formatNumber(0.06 * lambdaMemoryGb * prices.lambdaArmGbSecond * 1e6)}/M).`,
    ],
    durationMs,
  };
}
