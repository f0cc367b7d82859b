import { afterEach, describe, expect, it, vi } from 'vitest';
import { assign, fromPromise, setup } from 'xstate';
import { registry as examples } from '../../machines/index.ts';
import { RetryableError } from '../../runtime/core/errors.ts';
import { InstanceSession } from '../../runtime/core/instance.ts';
import { processBatch, type WorkerCore } from '../../runtime/core/process-batch.ts';
import { defineRegistry, type PersistedSnapshot } from '../../runtime/core/registry.ts';
import type { InstanceRecord } from '../../runtime/core/store.ts';
import { WarmSessions } from '../../runtime/core/warm-sessions.ts';
import { MemoryStore } from '../../runtime/memory/memory-store.ts';
import { exampleMachines, instance, plan, shapeOf, steppingClock, streams, toRecords } from '../../bench/workloads.ts';
import { budget, makeCore, stored } from '../support/core.ts';
import { fifoRecord, sequence } from '../support/records.ts';
import { scriptedStore } from '../support/scripted-store.ts';

const greeter = setup({ types: { context: {} as { hellos: number } } }).createMachine({
  id: 'greeter',
  context: { hellos: 0 },
  initial: 'idle',
  states: {
    idle: {
      tags: ['resolve'],
      on: {
        HELLO: { actions: assign({ hellos: ({ context }) => context.hellos + 1 }) },
        // The machine fails on it: the event is dead-lettered and the instance keeps its state.
        BOOM: {
          actions: () => {
            throw new Error('boom');
          },
        },
      },
    },
  },
});

const machines = defineRegistry({
  greeter: { version: 1, machine: greeter },
  // Rests in `working` while an invoked step runs: a live child.
  busy: {
    version: 1,
    machine: setup({ actors: { step: fromPromise(() => new Promise<void>((resolve) => setTimeout(resolve, 50))) } }).createMachine({
      id: 'busy',
      initial: 'idle',
      states: {
        idle: { tags: ['resolve'], on: { WORK: 'working' } },
        working: { tags: ['resolve'], invoke: { src: 'step', onDone: 'idle' } },
      },
    }),
  },
});

const warmCore = (maxInstances = 10, overrides: Partial<WorkerCore> = {}) => {
  const warm = new WarmSessions({ maxInstances, maxSnapshotBytes: 16 * 1024 });
  return { warm, ...makeCore(machines, { warm, ...overrides }) };
};

const hello = (id: string, seq: number) => fifoRecord(`greeter/${id}`, sequence(seq), { type: 'HELLO' });
const hellosOf = (record: InstanceRecord) => (record.snapshot as PersistedSnapshot & { context: { hellos: number } }).context.hellos;

afterEach(() => vi.restoreAllMocks());

describe('WarmSessions: an instance this worker saved last goes on without a restore', () => {
  it('reuses the kept session when the item is still the one it wrote', async () => {
    const { core, store, warm } = warmCore();
    const open = vi.spyOn(InstanceSession, 'open');
    await processBatch([hello('a', 1)], core, budget());
    expect(warm.size).toBe(1);
    await processBatch([hello('a', 2)], core, budget());
    await processBatch([hello('a', 3)], core, budget());
    expect(open).toHaveBeenCalledTimes(1);
    expect(hellosOf(await stored(store, 'greeter/a'))).toBe(3);
  });

  it('restores from the item when another writer saved it since, and drops the stale session', async () => {
    const { core, store, warm } = warmCore();
    const open = vi.spyOn(InstanceSession, 'open');
    const stop = vi.spyOn(InstanceSession.prototype, 'stop');
    await processBatch([hello('a', 1)], core, budget());
    // Another worker's write: a newer version with another context.
    const current = await stored(store, 'greeter/a');
    const snapshot = current.snapshot as PersistedSnapshot & { context: { hellos: number } };
    await store.write({ ...current, version: current.version + 1, snapshot: { ...snapshot, context: { hellos: 10 } } }, current.version);
    await processBatch([hello('a', 2)], core, budget());
    expect(stop).toHaveBeenCalledTimes(1); // the stale session, when it was found out of date
    expect(open).toHaveBeenCalledTimes(2);
    expect(hellosOf(await stored(store, 'greeter/a'))).toBe(11);
    expect(warm.size).toBe(1);
  });

  it('restores when the registry was reloaded (another definition object), even at the same version', async () => {
    const { core, store } = warmCore();
    const open = vi.spyOn(InstanceSession, 'open');
    await processBatch([hello('a', 1)], core, budget());
    const reloaded = defineRegistry({ ...machines, greeter: { version: 1, machine: greeter } });
    await processBatch([hello('a', 2)], { ...core, registry: reloaded }, budget());
    expect(open).toHaveBeenCalledTimes(2);
    expect(hellosOf(await stored(store, 'greeter/a'))).toBe(2);
  });

  it('goes on from the state before an event the machine failed on; the write that forgets its letter ends the kept session', async () => {
    const { core, store, deadLetters, warm } = warmCore();
    const open = vi.spyOn(InstanceSession, 'open');
    await processBatch([hello('a', 1), hello('b', 2)], core, budget());
    // The kept session of a takes BOOM, fails, is rebuilt from the state before it, and goes on with the HELLO after.
    await processBatch([hello('b', 3)], core, budget());
    await processBatch([fifoRecord('greeter/a', sequence(4), { type: 'BOOM' }), hello('a', 5)], core, budget());
    expect(deadLetters.letters.map((letter) => letter.error.code)).toEqual(['machine-error']);
    expect(open).toHaveBeenCalledTimes(2); // a and b once each: both batches after the first went on warm
    expect(warm.size).toBe(2);
    // After the letter was sent, a second write forgot it: the item moved past the version a kept, so a restores.
    await processBatch([hello('a', 6)], core, budget());
    expect(open).toHaveBeenCalledTimes(3);
    const record = await stored(store, 'greeter/a');
    expect(hellosOf(record)).toBe(3);
    expect(record.history.map((entry) => entry.outcome)).toEqual(['resolve', 'error', 'resolve', 'resolve']);
  });

  it('never keeps a session whose actor has a live child', async () => {
    const { core, warm } = warmCore();
    await processBatch([fifoRecord('busy/a', sequence(1), { type: 'WORK' })], core, budget());
    expect(warm.size).toBe(0);
  });

  it('keeps nothing when the write failed, or landed with its answer lost', async () => {
    const inner = new MemoryStore();
    const failing = scriptedStore(inner, { write: () => new RetryableError('storage-unavailable', 'throttled') });
    const first = warmCore(10, { store: failing.store });
    await processBatch([hello('a', 1)], first.core, budget());
    expect(first.warm.size).toBe(0);

    const lost = scriptedStore(inner, { lands: () => new RetryableError('storage-unavailable', 'connection reset') });
    const second = warmCore(10, { store: lost.store });
    const open = vi.spyOn(InstanceSession, 'open');
    await processBatch([hello('b', 1)], second.core, budget());
    expect(second.warm.size).toBe(0);
    await processBatch([hello('b', 2)], { ...second.core, store: inner }, budget());
    expect(open).toHaveBeenCalledTimes(2);
    expect(hellosOf(await stored(inner, 'greeter/b'))).toBe(2);
  });

  it('keeps at most maxInstances, stopping the least recently kept; 0 keeps none', async () => {
    const { core, warm } = warmCore(2);
    const stop = vi.spyOn(InstanceSession.prototype, 'stop');
    await processBatch([hello('a', 1), hello('b', 2), hello('c', 3)], core, budget());
    expect(warm.size).toBe(2);
    expect(stop).toHaveBeenCalledTimes(1);
    const open = vi.spyOn(InstanceSession, 'open');
    await processBatch([hello('a', 4), hello('c', 5)], core, budget());
    expect(open).toHaveBeenCalledTimes(1); // a was evicted; c was kept

    const none = warmCore(0);
    await processBatch([hello('a', 1)], none.core, budget());
    expect(none.warm.size).toBe(0);
  });

  it('saves exactly what a worker that restores every batch saves, for every example machine', async () => {
    const timerTokensDropped = (record: InstanceRecord | undefined) =>
      record && { ...record, timers: record.timers.map(({ token: _token, ...timer }) => timer) };
    for (const machine of exampleMachines) {
      const instances = Array.from({ length: 3 }, (_, i) => instance(machine, `w-${i}`, streams[machine]));
      const batches = toRecords(plan(instances, 40, shapeOf(3, 1)));
      const run = async (warm: WarmSessions | undefined) => {
        const { core, store } = makeCore(examples, { warm, now: steppingClock() });
        for (const batch of batches) expect((await processBatch(batch, core, budget())).batchItemFailures).toEqual([]);
        return Promise.all(instances.map(async (i) => timerTokensDropped(await store.read(i.key))));
      };
      const warm = new WarmSessions({ maxInstances: 10, maxSnapshotBytes: 16 * 1024 });
      const [cold, hot] = [await run(undefined), await run(warm)];
      expect(hot, machine).toEqual(cold);
      expect(hot.every((record) => record !== undefined)).toBe(true);
      warm.clear();
    }
  });
});
