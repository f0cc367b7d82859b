import { VersionConflictError } from './errors.ts';
import type { DueInstance, InstanceRecord, InstanceStore } from './store.ts';

/** An in-memory {@link InstanceStore} with the same contract as DynamoDB: for tests and benchmarks. */
export class MemoryStore implements InstanceStore {
  private readonly items = new Map<string, InstanceRecord>();
  /** Calls made, by kind: tests assert the worker's 1 read + 1 write per group per batch. */
  readonly calls = { read: 0, write: 0, findDue: 0 };

  async read(pk: string): Promise<InstanceRecord | undefined> {
    this.calls.read += 1;
    const item = this.items.get(pk);
    return item && structuredClone(item);
  }

  async write(record: InstanceRecord, expectedVersion: number | undefined): Promise<void> {
    this.calls.write += 1;
    const current = this.items.get(record.pk);
    if (current?.version !== expectedVersion) throw new VersionConflictError(record.pk, expectedVersion);
    this.items.set(record.pk, structuredClone(record));
  }

  async findDue(shard: string, now: number, limit: number): Promise<DueInstance[]> {
    this.calls.findDue += 1;
    const due: DueInstance[] = [];
    for (const item of this.items.values()) {
      if (item.wakeShard === shard && item.wakeAt !== undefined && item.wakeAt <= now) due.push({ pk: item.pk, wakeAt: item.wakeAt });
    }
    return due.sort((a, b) => a.wakeAt - b.wakeAt).slice(0, limit);
  }

  /** Every stored record (copies), for assertions. */
  all(): InstanceRecord[] {
    return [...this.items.values()].map((item) => structuredClone(item));
  }
}
