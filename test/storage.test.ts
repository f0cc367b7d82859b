import { randomBytes } from 'node:crypto';
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localCredentials } from '../local/clients.ts';
import { startDynamoDbLocal } from '../local/dynamodb-local.ts';
import { localRegion, startDynalite, type RunningEmulator } from '../local/emulators.ts';
import { tableInput } from '../local/provision.ts';
import { MemoryDeadLetterQueue } from '../runtime/memory/memory-queues.ts';
import { DynamoStore, createDocumentClient } from '../runtime/aws/dynamo-store.ts';
import { compressAboveBytes } from '../runtime/core/item.ts';
import { PermanentError, VersionConflictError } from '../runtime/core/errors.ts';
import { MemoryStore } from '../runtime/memory/memory-store.ts';
import { processBatch } from '../runtime/core/process-batch.ts';
import type { InstanceRecord, InstanceStore } from '../runtime/core/store.ts';
import { registry } from '../machines/index.ts';
import { racingStore } from './support/racing-store.ts';
import { fifoRecord, sequence } from './support/records.ts';

/** A DynamoStore on a fresh table of an emulator started for this suite. */
async function dynamoOn(emulator: RunningEmulator): Promise<{ store: DynamoStore; client: DynamoDBClient }> {
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
  return { store: new DynamoStore(tableName, createDocumentClient(client)), client };
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
