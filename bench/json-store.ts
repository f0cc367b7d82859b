import { VersionConflictError } from '../functions/runtime/errors.ts';
import type { DueInstance, InstanceRecord, InstanceStore } from '../functions/runtime/store.ts';

/**
 * MemoryStore's contract with JSON strings instead of structuredClone copies: a stand-in for what a real
 * adapter pays to serialise an item (DynamoStore JSON-encodes the snapshot and marshals the rest). Used
 * beside MemoryStore to show how much of the worker's CPU the test adapter's deep copies take.
 */
export class JsonStore implements InstanceStore {
  private readonly items = new Map<string, { readonly version: number; readonly json: string }>();

  async read(pk: string): Promise<InstanceRecord | undefined> {
    const item = this.items.get(pk);
    return item && (JSON.parse(item.json) as InstanceRecord);
  }

  async write(record: InstanceRecord, expectedVersion: number | undefined): Promise<void> {
    if (this.items.get(record.pk)?.version !== expectedVersion) throw new VersionConflictError(record.pk, expectedVersion);
    this.items.set(record.pk, { version: record.version, json: JSON.stringify(record) });
  }

  async findDue(shard: string, now: number, limit: number): Promise<DueInstance[]> {
    const due: DueInstance[] = [];
    for (const { json } of this.items.values()) {
      const item = JSON.parse(json) as InstanceRecord;
      if (item.wakeShard === shard && item.wakeAt !== undefined && item.wakeAt <= now) due.push({ pk: item.pk, wakeAt: item.wakeAt });
    }
    return due.sort((a, b) => a.wakeAt - b.wakeAt).slice(0, limit);
  }
}
