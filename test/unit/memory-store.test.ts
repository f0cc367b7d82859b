import { describe, expect, it } from 'vitest';
import { VersionConflictError } from '../../runtime/core/errors.ts';
import { MemoryStore } from '../../runtime/memory/memory-store.ts';
import type { InstanceRecord } from '../../runtime/core/store.ts';

const at = '2026-11-23T10:00:00.000Z';

/** A stored counter instance; `timer` puts it in the due index. */
function record(pk: string, version: number, timer?: { wakeAt: number; wakeShard: string }): InstanceRecord {
  return {
    pk,
    machine: 'counter',
    version,
    lastSeq: '18000000000000000001',
    outcome: 'resolve',
    wakeAt: timer?.wakeAt,
    wakeShard: timer?.wakeShard,
    history: [{ seq: '18000000000000000001', type: 'COUNT', outcome: 'resolve', at }],
    letters: [],
    createdAt: at,
    updatedAt: at,
    machineVersion: 1,
    snapshot: { status: 'active', value: 'even', context: { count: 2 } },
    status: 'active',
    value: 'even',
    states: ['even'],
    tags: ['resolve'],
    timers: [],
  } as InstanceRecord;
}

describe('MemoryStore', () => {
  it('reads back what was written, as a copy, and nothing for an instance never written', async () => {
    const store = new MemoryStore();
    const written = record('counter/c1', 1);

    await store.write(written, undefined);
    const read = await store.read('counter/c1');

    expect(read).toMatchObject({ pk: 'counter/c1', version: 1, value: 'even', snapshot: { context: { count: 2 } } });
    expect(read).not.toBe(written);
    expect(await store.read('counter/c2')).toBeUndefined();
  });

  it('reads back a large snapshot whole', async () => {
    const store = new MemoryStore();
    const notes = Array.from({ length: 400 }, (_, index) => `note ${index}: the customer called about the invoice`);
    const large = { ...record('counter/c1', 1), snapshot: { status: 'active' as const, value: 'even', context: { count: 2, notes } } };

    await store.write(large, undefined);

    expect(JSON.stringify(large.snapshot).length).toBeGreaterThan(16_000);
    expect((await store.read('counter/c1'))?.snapshot).toEqual(large.snapshot);
    expect(store.all()[0]?.snapshot).toEqual(large.snapshot);
  });

  it('drops undefined fields, as DynamoDB does', async () => {
    const store = new MemoryStore();

    await store.write(record('counter/c1', 1), undefined);

    const read = await store.read('counter/c1');
    expect(read && 'wakeAt' in read).toBe(false);
    expect(read && 'wakeShard' in read).toBe(false);
  });

  it('writes only over the version that was read, and throws a VersionConflictError otherwise', async () => {
    const store = new MemoryStore();
    await store.write(record('counter/c1', 1), undefined);

    await store.write(record('counter/c1', 2), 1);
    const createAgain = store.write(record('counter/c1', 1), undefined);
    const stale = store.write(record('counter/c1', 2), 1);
    const unknown = store.write(record('counter/c9', 2), 1);

    await expect(createAgain).rejects.toBeInstanceOf(VersionConflictError);
    await expect(stale).rejects.toMatchObject({ code: 'version-conflict', instanceKey: 'counter/c1', expectedVersion: 1 });
    await expect(unknown).rejects.toMatchObject({ code: 'version-conflict', instanceKey: 'counter/c9', expectedVersion: 1 });
    expect((await store.read('counter/c1'))?.version).toBe(2);
    expect(await store.read('counter/c9')).toBeUndefined();
  });

  it('finds the instances of one shard whose timer is due at or before now, earliest first, at most limit', async () => {
    const store = new MemoryStore();
    const now = Date.parse(at);
    await store.write(record('counter/late', 1, { wakeAt: now - 1_000, wakeShard: '3' }), undefined);
    await store.write(record('counter/exact', 1, { wakeAt: now, wakeShard: '3' }), undefined);
    await store.write(record('counter/early', 1, { wakeAt: now - 5_000, wakeShard: '3' }), undefined);
    await store.write(record('counter/future', 1, { wakeAt: now + 1, wakeShard: '3' }), undefined);
    await store.write(record('counter/other-shard', 1, { wakeAt: now - 9_000, wakeShard: '4' }), undefined);
    await store.write(record('counter/no-timer', 1), undefined);

    expect(await store.findDue('3', now, 10)).toEqual([
      { pk: 'counter/early', wakeAt: now - 5_000 },
      { pk: 'counter/late', wakeAt: now - 1_000 },
      { pk: 'counter/exact', wakeAt: now },
    ]);
    expect(await store.findDue('3', now, 2)).toEqual([
      { pk: 'counter/early', wakeAt: now - 5_000 },
      { pk: 'counter/late', wakeAt: now - 1_000 },
    ]);
    expect(await store.findDue('4', now, 10)).toEqual([{ pk: 'counter/other-shard', wakeAt: now - 9_000 }]);
    expect(await store.findDue('5', now, 10)).toEqual([]);
  });

  it('leaves the due index when a write clears the timer', async () => {
    const store = new MemoryStore();
    const now = Date.parse(at);
    await store.write(record('counter/c1', 1, { wakeAt: now - 1, wakeShard: '0' }), undefined);

    await store.write(record('counter/c1', 2), 1);

    expect(await store.findDue('0', now, 10)).toEqual([]);
  });

  it('counts the calls of each kind', async () => {
    const store = new MemoryStore();

    await store.read('counter/c1');
    await store.write(record('counter/c1', 1), undefined);
    await store.write(record('counter/c1', 2), 1);
    await store.findDue('0', 0, 1);
    await store.findDue('1', 0, 1);
    await store.findDue('2', 0, 1);

    expect(store.calls).toEqual({ read: 1, write: 2, findDue: 3 });
  });

  it('lists every stored record', async () => {
    const store = new MemoryStore();
    await store.write(record('counter/c1', 1), undefined);
    await store.write(record('counter/c2', 1), undefined);

    expect(store.all().map((item) => item.pk)).toEqual(['counter/c1', 'counter/c2']);
  });
});
