import { VersionConflictError } from '../core/errors.ts';
import { decodeItem, encodeItem, type StoredItem } from '../core/item.ts';
import type { DueInstance, InstanceRecord, InstanceStore } from '../core/store.ts';

/**
 * An in-memory {@link InstanceStore} with the same contract as DynamoDB: for tests and benchmarks.
 * Items are encoded as DynamoDB's are (same size rule, gzip) and kept as JSON, as a real store serializes
 * them (`undefined` is dropped, as on DynamoDB).
 */
export class MemoryStore implements InstanceStore {
  private readonly items = new Map<
    string,
    {
      readonly version: number;
      readonly due: DueInstance | undefined;
      readonly shard: string | undefined;
      readonly json: string;
      readonly gz: Uint8Array | undefined;
    }
  >();
  /** Calls made, by kind: tests assert the worker's 1 read + 1 write per group per batch. */
  readonly calls = { read: 0, write: 0, findDue: 0 };

  async read(pk: string): Promise<InstanceRecord | undefined> {
    this.calls.read += 1;
    const item = this.items.get(pk);
    return item && decode(item);
  }

  async write(record: InstanceRecord, expectedVersion: number | undefined): Promise<void> {
    this.calls.write += 1;
    const current = this.items.get(record.pk);
    if (current?.version !== expectedVersion) throw new VersionConflictError(record.pk, expectedVersion);
    const { snapshotGz, ...item } = encodeItem(record);
    const due = record.wakeAt === undefined ? undefined : { pk: record.pk, wakeAt: record.wakeAt };
    this.items.set(record.pk, { version: record.version, due, shard: record.wakeShard, json: JSON.stringify(item), gz: snapshotGz });
  }

  async findDue(shard: string, now: number, limit: number): Promise<DueInstance[]> {
    this.calls.findDue += 1;
    const due: DueInstance[] = [];
    for (const item of this.items.values()) {
      if (item.shard === shard && item.due && item.due.wakeAt <= now) due.push(item.due);
    }
    return due.sort((a, b) => a.wakeAt - b.wakeAt).slice(0, limit);
  }

  /** Every stored record (copies), for assertions. */
  all(): InstanceRecord[] {
    return [...this.items.values()].map(decode);
  }
}

function decode(item: { readonly json: string; readonly gz: Uint8Array | undefined }): InstanceRecord {
  const stored = JSON.parse(item.json) as StoredItem;
  return decodeItem(item.gz ? { ...stored, snapshotGz: item.gz } : stored);
}
