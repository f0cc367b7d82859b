import { randomBytes } from 'node:crypto';
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localCredentials } from '../local/clients.ts';
import { startDynamoDbLocal } from '../local/dynamodb-local.ts';
import { localRegion, startDynalite, type RunningEmulator } from '../local/emulators.ts';
import { tableInput } from '../local/provision.ts';
import { MemoryDeadLetterQueue } from '../runtime/memory/memory-queues.ts';
import { DynamoStore, createDocumentClient } from '../runtime/aws/dynamo-store.ts';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { compressAboveBytes } from '../runtime/core/item.ts';
import { PermanentError, VersionConflictError } from '../runtime/core/errors.ts';
import { MemoryStore } from '../runtime/memory/memory-store.ts';
import { listShardKeys, sortPrefixesFor } from '../runtime/core/listing.ts';
import { tableDefinition } from '../runtime/core/resources.ts';
import { processBatch } from '../runtime/core/process-batch.ts';
import type { InstanceRecord, InstanceStore } from '../runtime/core/store.ts';
import { registry } from '../machines/index.ts';
import { racingStore } from './support/racing-store.ts';
import { fifoRecord, sequence } from './support/records.ts';

/** A DynamoStore on a fresh table of an emulator started for this suite. */
async function dynamoOn(emulator: RunningEmulator): Promise<RealBackend> {
  const client = new DynamoDBClient({ region: localRegion, credentials: localCredentials, endpoint: emulator.endpoint });
  const tableName = `settle-contract-${randomBytes(4).toString('hex')}`;
  await client.send(new CreateTableCommand(tableInput(tableName)));
  const deadline = Date.now() + 20_000;
  for (;;) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    if (Table?.TableStatus === 'ACTIVE' && (Table.GlobalSecondaryIndexes ?? []).every((i) => i.IndexStatus === 'ACTIVE')) break;
    if (Date.now() > deadline) throw new Error(`table ${tableName} not ACTIVE within 20 s`);
    await new Promise((resolve) => setTimeout(resolve, 25)); // poll interval of a bounded wait
  }
  return { store: new DynamoStore(tableName, createDocumentClient(client)), client, tableName };
}

/** A DynamoStore on a real DynamoDB engine (an emulator), with its table and a plain client for queries of its own. */
interface RealBackend {
  readonly store: DynamoStore;
  readonly client: DynamoDBClient;
  readonly tableName: string;
}

function record(pk: string, overrides: Partial<InstanceRecord> = {}): InstanceRecord {
  return {
    pk,
    machine: pk.split('/')[0] ?? 'counter',
    machineVersion: 1,
    snapshot: {
      status: 'active',
      value: { review: { legal: 'pending', finance: 'signed' } },
      context: { count: 3, note: 'ü ✓' },
      children: {},
      historyValue: {},
    },
    status: 'active',
    value: { review: { legal: 'pending', finance: 'signed' } },
    states: ['review.legal.pending', 'review.finance.signed'],
    tags: ['resolve'],
    version: 1,
    lastSeq: sequence(7).toString(),
    outcome: 'resolve',
    timers: [],
    wakeAt: undefined,
    wakeShard: undefined,
    history: [{ seq: sequence(7).toString(), type: 'APPROVE', outcome: 'resolve', at: '2026-11-23T10:00:00.000Z' }],
    letters: [],
    createdAt: '2026-11-23T10:00:00.000Z',
    updatedAt: '2026-11-23T10:00:00.000Z',
    ...overrides,
  };
}

function withTimer(pk: string, wakeAt: number, shard: string): InstanceRecord {
  const timer = {
    token: `t-${pk}`,
    id: 'xstate.after.paymentWindow.payment.awaitingPayment',
    event: { type: 'xstate.after.paymentWindow.payment.awaitingPayment' },
    delay: 900_000,
    fireAt: wakeAt,
  };
  return record(pk, { timers: [timer], wakeAt, wakeShard: shard });
}

const emulators: RunningEmulator[] = [];
const clients: DynamoDBClient[] = [];
const backends: Partial<Record<'dynalite' | 'DynamoDB Local', RealBackend>> = {};
const memory = new MemoryStore();
const stores: Record<'memory' | 'dynalite' | 'DynamoDB Local', () => InstanceStore> = {
  memory: () => memory,
  dynalite: () => {
    throw new Error('not started');
  },
  'DynamoDB Local': () => {
    throw new Error('not started');
  },
};

beforeAll(async () => {
  const [dynalite, dynamoDbLocal] = await Promise.all([startDynalite(), startDynamoDbLocal()]);
  emulators.push(dynalite, dynamoDbLocal);
  const [onDynalite, onDynamoDbLocal] = await Promise.all([dynamoOn(dynalite), dynamoOn(dynamoDbLocal)]);
  clients.push(onDynalite.client, onDynamoDbLocal.client);
  stores.dynalite = () => onDynalite.store;
  stores['DynamoDB Local'] = () => onDynamoDbLocal.store;
  backends.dynalite = onDynalite;
  backends['DynamoDB Local'] = onDynamoDbLocal;
}, 60_000);

afterAll(async () => {
  for (const client of clients) client.destroy();
  await Promise.all(emulators.map((emulator) => emulator.stop()));
});

let counter = 0;
const uniquePk = (machine = 'counter') => `${machine}/contract-${++counter}`;

describe.each(['memory', 'dynalite', 'DynamoDB Local'] as const)('InstanceStore on %s', (kind) => {
  const store = () => stores[kind]();

  it('reads a missing instance as undefined', async () => {
    expect(await store().read(uniquePk())).toBeUndefined();
  });

  it('writes a new instance and reads it back whole', async () => {
    const pk = uniquePk('approval');
    const written = record(pk);

    await store().write(written, undefined);

    expect(await store().read(pk)).toEqual(written);
  });

  it('refuses to create an instance that exists', async () => {
    const pk = uniquePk();
    await store().write(record(pk), undefined);

    await expect(store().write(record(pk, { lastSeq: '9' }), undefined)).rejects.toBeInstanceOf(VersionConflictError);
    expect((await store().read(pk))?.lastSeq).toBe(sequence(7).toString());
  });

  it('writes only on the version that was read: a stale writer conflicts and changes nothing', async () => {
    const pk = uniquePk();
    await store().write(record(pk), undefined);
    await store().write(record(pk, { version: 2, lastSeq: sequence(8).toString() }), 1);

    const stale = store().write(record(pk, { version: 2, lastSeq: sequence(9).toString() }), 1);

    await expect(stale).rejects.toBeInstanceOf(VersionConflictError);
    expect(await store().read(pk)).toMatchObject({ version: 2, lastSeq: sequence(8).toString() });
  });

  it('round-trips a snapshot far above the compression threshold', async () => {
    const pk = uniquePk();
    const big = 'settle '.repeat(Math.ceil((4 * compressAboveBytes) / 7));
    const written = record(pk, { snapshot: { status: 'active', value: 'even', context: { big }, children: {} } });

    await store().write(written, undefined);

    expect((await store().read(pk))?.snapshot).toEqual(written.snapshot);
  });

  it('finds due instances through the sparse due index, per shard, earliest first, up to a limit', async () => {
    const shard = `s${kind.length}-${++counter}`;
    const now = 1_800_000_000_000;
    await store().write(withTimer(uniquePk('payment'), now - 1000, shard), undefined);
    await store().write(withTimer(uniquePk('payment'), now - 5000, shard), undefined);
    await store().write(withTimer(uniquePk('payment'), now, shard), undefined);
    await store().write(withTimer(uniquePk('payment'), now + 1, shard), undefined); // not yet due
    await store().write(withTimer(uniquePk('payment'), now - 1, `${shard}-other`), undefined); // another shard
    await store().write(record(uniquePk('payment')), undefined); // no timer: not in the index at all

    const due = await store().findDue(shard, now, 100);
    const firstTwo = await store().findDue(shard, now, 2);

    expect(due.map((d) => d.wakeAt)).toEqual([now - 5000, now - 1000, now]);
    expect(firstTwo.map((d) => d.wakeAt)).toEqual([now - 5000, now - 1000]);
  });

  it('drops an instance from the due index when its last timer is gone', async () => {
    const shard = `gone-${kind.length}-${++counter}`;
    const pk = uniquePk('payment');
    await store().write(withTimer(pk, 1000, shard), undefined);

    await store().write(record(pk, { version: 2 }), 1);

    expect(await store().findDue(shard, 2000, 10)).toEqual([]);
  });

  it('keeps lost updates out when two workers apply events to one instance at once', async () => {
    // Both read before either writes: exactly one write wins; the loser re-reads and re-applies what is
    // left. Either may win (DynamoDB Local sometimes lets the two-event batch through first).
    const pk = uniquePk();
    const shared = store();
    const { store: racing, conflicts } = racingStore(shared);
    const core = { registry, store: racing, deadLetters: new MemoryDeadLetterQueue(), now: Date.now, maxReceiveCount: 5, wakeShards: 8 };
    const first = fifoRecord(pk, sequence(1), { type: 'COUNT' });
    const second = fifoRecord(pk, sequence(2), { type: 'COUNT' });

    const results = await Promise.all([processBatch([first], core, () => 5000), processBatch([first, second], core, () => 5000)]);

    expect(results.flatMap((r) => r.batchItemFailures)).toEqual([]);
    expect(conflicts()).toBe(1);
    const item = await shared.read(pk);
    expect(item).toMatchObject({ lastSeq: sequence(2).toString(), snapshot: { context: { count: 4 } } });
    expect(item?.history.map((h) => h.seq)).toEqual([sequence(1).toString(), sequence(2).toString()]);
  });
});

describe.each(['dynalite', 'DynamoDB Local'] as const)('the list index on %s', (kind) => {
  const backend = (): RealBackend => {
    const found = backends[kind];
    if (!found) throw new Error(`${kind} not started`);
    return found;
  };
  const { listIndex } = tableDefinition;

  /**
   * Instances of `machine` as a client lists them: every shard, under each sort prefix of `state` (or the whole
   * shard), filtered on `inStates` and any other condition; every page. The names go through placeholders
   * (`status` is a reserved word).
   */
  async function list(
    machine: string,
    options: { state?: string; filter?: { expression: string; names: Record<string, string>; values: Record<string, unknown> } } = {},
  ): Promise<{ pks: string[]; items: Record<string, unknown>[] }> {
    const { client, tableName } = backend();
    const documents = createDocumentClient(client);
    const items: Record<string, unknown>[] = [];
    const prefixes = options.state === undefined ? [undefined] : sortPrefixesFor(options.state);
    for (const shard of listShardKeys(machine)) {
      for (const prefix of prefixes) {
        const filters = [
          ...(options.state === undefined ? [] : ['contains(#inStates, :state)']),
          ...(options.filter ? [options.filter.expression] : []),
        ];
        let startKey: Record<string, unknown> | undefined;
        do {
          const page = await documents.send(
            new QueryCommand({
              TableName: tableName,
              IndexName: listIndex.name,
              KeyConditionExpression: prefix === undefined ? '#shard = :shard' : '#shard = :shard AND begins_with(#sort, :prefix)',
              ...(filters.length > 0 ? { FilterExpression: filters.join(' AND ') } : {}),
              ExpressionAttributeNames: {
                '#shard': listIndex.partitionKey.name,
                ...(prefix === undefined ? {} : { '#sort': listIndex.sortKey.name }),
                ...(options.state === undefined ? {} : { '#inStates': 'inStates' }),
                ...options.filter?.names,
              },
              ExpressionAttributeValues: {
                ':shard': shard,
                ...(prefix === undefined ? {} : { ':prefix': prefix }),
                ...(options.state === undefined ? {} : { ':state': options.state }),
                ...options.filter?.values,
              },
              Limit: 2, // small pages: paging is part of what is tested
              ExclusiveStartKey: startKey,
            }),
          );
          items.push(...(page.Items ?? []));
          startKey = page.LastEvaluatedKey;
        } while (startKey);
      }
    }
    return { pks: [...new Set(items.map((item) => String(item.pk)))].sort(), items };
  }

  /** Writes instances of a machine of this test's own, through DynamoStore.write, one minute apart. */
  async function writeAll(machine: string, instances: Record<string, Partial<InstanceRecord>>): Promise<Record<string, string>> {
    const pks: Record<string, string> = {};
    let minute = 0;
    for (const [name, overrides] of Object.entries(instances)) {
      const pk = `${machine}/${name}`;
      const at = new Date(Date.parse('2026-11-23T10:00:00.000Z') + 60_000 * minute++).toISOString();
      await backend().store.write(record(pk, { updatedAt: at, ...overrides }), undefined);
      pks[name] = pk;
    }
    return pks;
  }

  const sorted = (...pks: (string | undefined)[]) => pks.map(String).sort();

  it('finds instances by state, deep states included, through begins_with on listSort and contains on inStates, every shard', async () => {
    const machine = `approval-${kind.length}-${++counter}`;
    const pk = await writeAll(machine, {
      a: { states: ['review.legal.pending', 'review.finance.signed'] },
      b: { states: ['review.legal.signed', 'review.finance.pending'] },
      c: { states: ['draft'], value: 'draft' },
      d: { states: ['reviewer'], value: 'reviewer' }, // a top state that the prefix `review` would match without its '#'
      e: { states: ['approved'], status: 'done', outcome: 'resolve' },
      ...Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`many-${i}`, { states: ['draft'], value: 'draft' }])),
    });
    const drafts = Object.keys(pk).filter((name) => name === 'c' || name.startsWith('many-'));

    expect((await list(machine, { state: 'review.legal' })).pks).toEqual(sorted(pk.a, pk.b));
    expect((await list(machine, { state: 'review.legal.pending' })).pks).toEqual(sorted(pk.a));
    expect((await list(machine, { state: 'review.finance.pending' })).pks).toEqual(sorted(pk.b));
    expect((await list(machine, { state: 'review' })).pks).toEqual(sorted(pk.a, pk.b));
    expect((await list(machine, { state: 'reviewer' })).pks).toEqual(sorted(pk.d));
    expect((await list(machine, { state: 'draft' })).pks).toEqual(sorted(...drafts.map((name) => pk[name])));
    expect((await list(machine, { state: 'review.legal.nowhere' })).pks).toEqual([]);
    expect((await list(machine)).pks).toEqual(sorted(...Object.values(pk)));
    // 16 instances over 8 shards: the listing needed more than one partition.
    const shards = new Set((await list(machine)).items.map((item) => item[listIndex.partitionKey.name]));
    expect(shards.size).toBeGreaterThan(1);
  });

  it('filters on status, outcome and updatedAt, beside the state', async () => {
    const machine = `approval-${kind.length}-${++counter}`;
    const pk = await writeAll(machine, {
      old: { states: ['review.legal.pending'], outcome: 'reject' },
      recent: { states: ['review.legal.pending'], outcome: 'resolve' },
      done: { states: ['approved'], status: 'done', outcome: 'resolve' },
    });
    const status = (value: string) => ({ expression: '#status = :status', names: { '#status': 'status' }, values: { ':status': value } });

    expect((await list(machine, { filter: status('done') })).pks).toEqual(sorted(pk.done));
    expect((await list(machine, { state: 'review', filter: status('active') })).pks).toEqual(sorted(pk.old, pk.recent));
    expect(
      (
        await list(machine, {
          state: 'review',
          filter: { expression: '#outcome = :outcome', names: { '#outcome': 'outcome' }, values: { ':outcome': 'reject' } },
        })
      ).pks,
    ).toEqual(sorted(pk.old));
    expect(
      (
        await list(machine, {
          filter: {
            expression: '#updatedAt >= :since',
            names: { '#updatedAt': 'updatedAt' },
            values: { ':since': '2026-11-23T10:01:00.000Z' },
          },
        })
      ).pks,
    ).toEqual(sorted(pk.recent, pk.done));
  });

  it('finds the instances of a machine whose root is parallel under the empty top, for any state', async () => {
    const machine = `lights-${kind.length}-${++counter}`;
    const pk = await writeAll(machine, {
      x: { states: ['left.on', 'right.off'], value: { left: 'on', right: 'off' } },
      y: { states: ['left.off', 'right.off'], value: { left: 'off', right: 'off' } },
    });

    const all = await list(machine);
    expect(all.items.map((item) => String(item[listIndex.sortKey.name]).split('#')[0])).toEqual(['', '']);
    expect((await list(machine, { state: 'left.on' })).pks).toEqual(sorted(pk.x));
    expect((await list(machine, { state: 'right.off' })).pks).toEqual(sorted(pk.x, pk.y));
    expect((await list(machine, { state: 'left' })).pks).toEqual(sorted(pk.x, pk.y));
    expect((await list(machine, { state: 'right.on' })).pks).toEqual([]);
  });

  it('moves an instance in the index when it changes state, and returns only the projected summary', async () => {
    const machine = `approval-${kind.length}-${++counter}`;
    const pk = `${machine}/moving`;
    await backend().store.write(record(pk, { states: ['draft'], value: 'draft' }), undefined);
    await backend().store.write(
      record(pk, { version: 2, states: ['review.legal.pending', 'review.finance.pending'], updatedAt: '2026-11-23T11:00:00.000Z' }),
      1,
    );

    expect((await list(machine, { state: 'draft' })).pks).toEqual([]);
    const { items } = await list(machine, { state: 'review.legal.pending' });
    expect(items.map((item) => item.pk)).toEqual([pk]);
    const projected = new Set<string>(['pk', listIndex.partitionKey.name, listIndex.sortKey.name, ...listIndex.nonKeyAttributes]);
    expect(Object.keys(items[0] ?? {}).filter((name) => !projected.has(name))).toEqual([]);
    expect(items[0]).toMatchObject({
      machine,
      status: 'active',
      states: ['review.legal.pending', 'review.finance.pending'],
      [listIndex.sortKey.name]: 'review#2026-11-23T11:00:00.000Z',
      updatedAt: '2026-11-23T11:00:00.000Z',
    });
    expect(items[0]).not.toHaveProperty('snapshot');
    expect(items[0]).not.toHaveProperty('history');
  });
});

describe('DynamoStore', () => {
  it('refuses a snapshot that stays too large after compression, rather than truncating it', async () => {
    const pk = uniquePk();
    const noise = randomBytes(600 * 1024).toString('base64');
    const store = stores.dynalite();

    const write = store.write(record(pk, { snapshot: { status: 'active', value: 'even', context: { noise }, children: {} } }), undefined);

    await expect(write).rejects.toBeInstanceOf(PermanentError);
    await expect(write).rejects.toMatchObject({ code: 'snapshot-too-large' });
    expect(await store.read(pk)).toBeUndefined();
  });
});
