/**
 * §7 List index write cost: the same event streams of the example machines through the worker core and
 * DynamoStore onto Amazon's DynamoDB Local, once into a table with the `list` index and once into a table
 * without it (the due index on both), every PutItem asking for `ReturnConsumedCapacity: 'INDEXES'`. DynamoDB
 * Local meters the table and each index separately; the list index's units are also computed from the
 * projected entries by DynamoDB's rules, as a check of the meter.
 */
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { localCredentials } from '../../local/clients.ts';
import { startDynamoDbLocal } from '../../local/dynamodb-local.ts';
import { localRegion } from '../../local/emulators.ts';
import { tableInput } from '../../local/provision.ts';
import { registry } from '../../machines/index.ts';
import { createDocumentClient, DynamoStore } from '../../runtime/aws/dynamo-store.ts';
import type { WorkerCore } from '../../runtime/core/process-batch.ts';
import { tableDefinition } from '../../runtime/core/resources.ts';
import { MemoryDeadLetterQueue } from '../../runtime/memory/memory-queues.ts';
import { itemBytes, listIndexEntry, listIndexUnits } from '../counting-dynamo.ts';
import type { BenchSizes } from '../options.ts';
import { compared, formatNumber, type Figure, type Section } from '../report.ts';
import {
  exampleMachines,
  instance,
  plan,
  type Shape,
  shapeOf,
  steppingClock,
  streams,
  toRecords,
  type ExampleMachine,
} from '../workloads.ts';
import { runWorker } from './cpu.ts';

/** One record per group per batch (a write per event: the common case and the dearest per event), and ten. */
export const listIndexShapes = [shapeOf(1, 1), shapeOf(1, 10)];

/** DynamoDB's per-partition write limit, units per second (the same for a table's and an index's partitions). */
export const partitionWriteUnitsPerSecond = 1000;

export interface Units {
  readonly table: number;
  readonly due: number;
  readonly list: number;
}

export interface CostTally {
  events: number;
  writes: number;
  /** PutItem calls that returned ConsumedCapacity with the per-table/per-index split. */
  metered: number;
  readonly units: { table: number; due: number; list: number };
  /** List index units by DynamoDB's rules from the projected entries (1 per KB per put; a key change is delete + put). */
  computedList: number;
  /** Writes whose list index key (listShard, listSort) changed: each is a delete and a put in the index. */
  listKeyChanges: number;
  /** What-if, computed: list index units were listSort `<top state>#<createdAt>` (moving only with the top-level state). */
  computedListByCreation: number;
  /** Largest projected list entry written, bytes. */
  maxEntryBytes: number;
}

export interface ListIndexFindings {
  readonly shapes: readonly {
    readonly shape: Shape;
    readonly withIndex: Readonly<Record<ExampleMachine | 'all', CostTally>>;
    readonly withoutIndex: Readonly<Record<ExampleMachine | 'all', CostTally>>;
  }[];
}

const emptyTally = (): CostTally => ({
  events: 0,
  writes: 0,
  metered: 0,
  units: { table: 0, due: 0, list: 0 },
  computedList: 0,
  listKeyChanges: 0,
  computedListByCreation: 0,
  maxEntryBytes: 0,
});

const { listIndex, dueIndex } = tableDefinition;
/** The entry were listSort `<top state>#<createdAt>` instead of `<top state>#<updatedAt>`. */
function byCreation(entry: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (entry === undefined) return undefined;
  const sort = String(entry[listIndex.sortKey.name]);
  return { ...entry, [listIndex.sortKey.name]: `${sort.slice(0, sort.lastIndexOf('#'))}#${String(entry.createdAt)}` };
}

type ConsumedCapacity = {
  Table?: { CapacityUnits?: number };
  GlobalSecondaryIndexes?: Record<string, { CapacityUnits?: number }>;
};

/** A client whose PutItems ask for per-index capacity, tallied by machine as they succeed. */
function meteredClient(endpoint: string, tally: (machine: string) => CostTally[]): DynamoDBClient {
  const client = new DynamoDBClient({ endpoint, region: localRegion, credentials: localCredentials });
  const entries = new Map<string, Record<string, unknown> | undefined>();
  const entriesByCreation = new Map<string, Record<string, unknown> | undefined>();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const command = (context as { commandName?: string }).commandName;
      if (command !== 'PutItemCommand') return next(args);
      const input = { ...(args.input as { Item?: Record<string, unknown> }), ReturnConsumedCapacity: 'INDEXES' };
      const result = await next({ ...args, input });
      const item = input.Item ?? {};
      const pk = String(item.pk);
      const consumed = (result.output as { ConsumedCapacity?: ConsumedCapacity }).ConsumedCapacity;
      const entry = listIndexEntry(item);
      const computed = listIndexUnits(entries.get(pk), entry);
      entries.set(pk, entry);
      const alternative = listIndexUnits(entriesByCreation.get(pk), byCreation(entry));
      entriesByCreation.set(pk, byCreation(entry));
      for (const t of tally(String(item.machine))) {
        t.writes += 1;
        if (consumed?.Table) t.metered += 1;
        t.units.table += consumed?.Table?.CapacityUnits ?? 0;
        t.units.due += consumed?.GlobalSecondaryIndexes?.[dueIndex.name]?.CapacityUnits ?? 0;
        t.units.list += consumed?.GlobalSecondaryIndexes?.[listIndex.name]?.CapacityUnits ?? 0;
        t.computedList += computed.units;
        if (computed.keyChanged) t.listKeyChanges += 1;
        t.computedListByCreation += alternative.units;
        t.maxEntryBytes = Math.max(t.maxEntryBytes, entry ? itemBytes(entry) : 0);
      }
      return result;
    },
    // Before the document client marshals: the item is plain values here, as the size rules are written for.
    { step: 'initialize', name: 'settleBenchListIndexMeter', priority: 'high' },
  );
  return client;
}

async function createTable(client: DynamoDBClient, name: string, withList: boolean): Promise<void> {
  const full = tableInput(name);
  const keys = new Set<string>([listIndex.partitionKey.name, listIndex.sortKey.name]);
  await client.send(
    new CreateTableCommand(
      withList
        ? full
        : {
            ...full,
            GlobalSecondaryIndexes: full.GlobalSecondaryIndexes?.filter((index) => index.IndexName !== listIndex.name),
            AttributeDefinitions: full.AttributeDefinitions?.filter((definition) => !keys.has(String(definition.AttributeName))),
          },
    ),
  );
  for (;;) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: name }));
    if (Table?.TableStatus === 'ACTIVE' && (Table.GlobalSecondaryIndexes ?? []).every((i) => i.IndexStatus === 'ACTIVE')) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Every example machine's stream, cut into the shape, through the worker core onto one table. */
async function runOnto(
  endpoint: string,
  tableName: string,
  withList: boolean,
  shape: Shape,
  sizes: BenchSizes['listIndex'],
): Promise<Record<ExampleMachine | 'all', CostTally>> {
  const tallies = Object.fromEntries([...exampleMachines, 'all'].map((m) => [m, emptyTally()])) as Record<
    ExampleMachine | 'all',
    CostTally
  >;
  const client = meteredClient(endpoint, (machine) => [tallies[machine as ExampleMachine], tallies.all].filter((t) => t !== undefined));
  try {
    await createTable(client, tableName, withList);
    const deadLetters = new MemoryDeadLetterQueue();
    const core: WorkerCore = {
      registry,
      store: new DynamoStore(tableName, createDocumentClient(client)),
      deadLetters,
      // A fresh clock per table, so both tables receive the very same items.
      now: steppingClock(),
      maxReceiveCount: 5,
      wakeShards: tableDefinition.wakeShards,
    };
    for (const machine of exampleMachines) {
      const instances = Array.from({ length: sizes.instancesPerMachine }, (_, i) => instance(machine, `list-${i}`, streams[machine]));
      const records = toRecords(plan(instances, sizes.eventsPerInstance, shape));
      const retried = await runWorker(core, records);
      if (retried > 0 || deadLetters.letters.length > 0) {
        throw new Error(`The worker retried ${retried} and dead-lettered ${deadLetters.letters.length} records of a clean stream.`);
      }
      const events = sizes.instancesPerMachine * sizes.eventsPerInstance;
      tallies[machine].events += events;
      tallies.all.events += events;
    }
  } finally {
    client.destroy();
  }
  if (tallies.all.metered !== tallies.all.writes) {
    throw new Error(`DynamoDB Local returned per-index ConsumedCapacity for ${tallies.all.metered} of ${tallies.all.writes} writes.`);
  }
  return tallies;
}

export async function listIndexSection(sizes: BenchSizes['listIndex']): Promise<{ section: Section; findings: ListIndexFindings }> {
  const started = performance.now();
  const dynamoDbLocal = await startDynamoDbLocal();
  const shapes: ListIndexFindings['shapes'][number][] = [];
  try {
    for (const [index, shape] of listIndexShapes.entries()) {
      const withIndex = await runOnto(dynamoDbLocal.endpoint, `settle-list-cost-${index}-with`, true, shape, sizes);
      const withoutIndex = await runOnto(dynamoDbLocal.endpoint, `settle-list-cost-${index}-without`, false, shape, sizes);
      shapes.push({ shape, withIndex, withoutIndex });
    }
  } finally {
    await dynamoDbLocal.stop();
  }
  const findings: ListIndexFindings = { shapes };
  return { section: listIndexSectionOf(findings, sizes, performance.now() - started), findings };
}

const totalOf = (tally: CostTally) => tally.units.table + tally.units.due + tally.units.list;

function listIndexSectionOf(findings: ListIndexFindings, sizes: BenchSizes['listIndex'], durationMs: number): Section {
  const figures: Figure[] = [];
  for (const [index, { shape, withIndex, withoutIndex }] of findings.shapes.entries()) {
    // Machine by machine for the first shape (a write per event); the other shapes in sum.
    for (const machine of index === 0 ? (['all', ...exampleMachines] as const) : (['all'] as const)) {
      const w = withIndex[machine];
      const wo = withoutIndex[machine];
      const label = `${shape.name} · ${machine === 'all' ? 'all four machines' : machine}`;
      const perEvent = (units: number, tally: CostTally) => units / Math.max(1, tally.events);
      figures.push(
        compared(
          `${label} · write units per event, with the list index`,
          perEvent(totalOf(w), w),
          'WCU',
          {
            name: 'without it',
            value: perEvent(totalOf(wo), wo),
          },
          {
            note: `with: table ${formatNumber(perEvent(w.units.table, w))} + due ${formatNumber(perEvent(w.units.due, w))} + list ${formatNumber(perEvent(w.units.list, w))}; without: table ${formatNumber(perEvent(wo.units.table, wo))} + due ${formatNumber(perEvent(wo.units.due, wo))}; ${w.writes} writes for ${w.events} events`,
          },
        ),
        compared(
          `${label} · list index units per event (metered)`,
          perEvent(w.units.list, w),
          'WCU',
          {
            name: 'table units per event',
            value: perEvent(w.units.table, w),
          },
          {
            note: `computed from the projected entries: ${formatNumber(perEvent(w.computedList, w))}; index key moved on ${w.listKeyChanges} of ${w.writes} writes; largest entry ${w.maxEntryBytes} bytes`,
          },
        ),
      );
    }
    const all = withIndex.all;
    const listPerEvent = all.units.list / Math.max(1, all.events);
    const byCreationPerEvent = all.computedListByCreation / Math.max(1, all.events);
    figures.push(
      compared(
        `${shape.name} · what-if listSort = <top state>#<createdAt>: list index units per event (computed)`,
        byCreationPerEvent,
        'WCU',
        { name: 'listSort = <top state>#<updatedAt> (metered)', value: listPerEvent },
        {
          note: `total with the index ${formatNumber((totalOf(all) - all.units.list + all.computedListByCreation) / Math.max(1, all.events))} WCU per event instead of ${formatNumber(totalOf(all) / Math.max(1, all.events))}: the entry moves only when the top-level state changes, and is rewritten in place (1 unit) otherwise`,
        },
      ),
    );
    figures.push(
      compared(
        `${shape.name} · events/s per machine before the list index throttles`,
        (listIndex.shards * partitionWriteUnitsPerSecond) / listPerEvent,
        'events/s',
        { name: 'one unsharded partition', value: partitionWriteUnitsPerSecond / listPerEvent },
        {
          note: `${listIndex.shards} shards × ${partitionWriteUnitsPerSecond} WCU/s per partition ÷ ${formatNumber(listPerEvent)} list index units per event`,
        },
      ),
    );
  }
  return {
    id: 'list-index',
    title: '7. List index write cost (worker core + DynamoStore on DynamoDB Local, metered per index)',
    figures,
    notes: [
      `Each shape: ${sizes.instancesPerMachine} instances × ${sizes.eventsPerInstance} events of each example machine's stream (bench/workloads.ts) through processBatch and DynamoStore onto Amazon's DynamoDB Local, once into a table with the list index and once into one without it (both with the due index), a fresh clock each, so both receive the same items.`,
      "Every PutItem asks for ReturnConsumedCapacity INDEXES; DynamoDB Local returns the table's and each index's units (it meters like DynamoDB: an index write per KB of the projected entry, 2 when the entry's key changes, none when no projected attribute changed). 'Computed' applies those rules to the projected entries (table key + index key + included attributes, DynamoDB's item-size rules) as a check.",
      'listSort holds updatedAt, so every save after the first moves the entry: a delete and a put, 2 index units per write while the entry stays under 1 KB. The what-if row computes, by the same rules, a listSort of the top-level state and createdAt, which moves only when the top-level state does.',
      "Throughput: the list index spreads a machine's writes over its shards; each index partition takes 1,000 write units a second, so a machine's event rate is capped at shards × 1,000 ÷ list units per event (evenly spread instances; on-demand tables adapt, but a partition's limit stays).",
    ],
    durationMs,
  };
}
