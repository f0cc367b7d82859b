import { MemoryDeadLetterQueue } from '../../runtime/memory/memory-queues.ts';
import { MemoryStore } from '../../runtime/memory/memory-store.ts';
import type { AppliedEvent, WorkerCore } from '../../runtime/core/process-batch.ts';
import type { MachineRegistry } from '../../runtime/core/registry.ts';
import type { InstanceRecord, InstanceStore } from '../../runtime/core/store.ts';

/** The worker core over in-memory ports at a fixed time, and what it reports. */
export function makeCore(registry: MachineRegistry, overrides: Partial<WorkerCore> = {}) {
  const store = new MemoryStore();
  const deadLetters = new MemoryDeadLetterQueue();
  const applied: AppliedEvent[] = [];
  const core: WorkerCore = {
    registry,
    store,
    deadLetters,
    now: () => Date.parse('2026-11-23T10:00:00Z'),
    maxReceiveCount: 5,
    wakeShards: 8,
    onApplied: (event) => applied.push(event),
    ...overrides,
  };
  return { core, store, deadLetters, applied };
}

/** A constant settle budget. */
export const budget =
  (ms = 5_000) =>
  () =>
    ms;

/** The stored instance, which must exist. */
export async function stored(store: InstanceStore, pk: string): Promise<InstanceRecord> {
  const record = await store.read(pk);
  if (!record) throw new Error(`no record for ${pk}`);
  return record;
}
