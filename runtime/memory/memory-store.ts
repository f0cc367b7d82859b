import { VersionConflictError } from '../core/errors.ts';
import { decodeItem, encodeRecord, loadRecord, saveRecord, type SnapshotOffload, type StoredItem } from '../core/item.ts';
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

  /** @param offload large snapshots to a payload store, as DynamoStore does. */
  constructor(private readonly offload?: SnapshotOffload) {}

  async read(pk: string): Promise<InstanceRecord | undefined> {
    this.calls.read += 1;
    const item = this.items.get(pk);
    return item && decode(item, this.offload);
  }

  checkFits(record: InstanceRecord): void {
    encodeRecord(record, this.offload);
  }

  write(record: InstanceRecord, expectedVersion: number | undefined): Promise<InstanceRecord> {
    this.calls.write += 1;
    return saveRecord(record, this.offload, async ({ snapshotGz, ...item }) => {
      const current = this.items.get(record.pk);
      if (current?.version !== expectedVersion) throw new VersionConflictError(record.pk, expectedVersion);
      const due = record.wakeAt === undefined ? undefined : { pk: record.pk, wakeAt: record.wakeAt };
      this.items.set(record.pk, { version: record.version, due, shard: record.wakeShard, json: JSON.stringify(item), gz: snapshotGz });
    });
  }

  async findDue(shard: string, now: number, limit: number): Promise<DueInstance[]> {
    this.calls.findDue += 1;
    const due: DueInstance[] = [];
    for (const item of this.items.values()) {
      if (item.shard === shard && item.due && item.due.wakeAt <= now) due.push(item.due);
    }
    return due.sort((a, b) => a.wakeAt - b.wakeAt).slice(0, limit);
  }

  /** Every stored record (copies), for assertions. An offloaded snapshot is not fetched: read() it. */
  all(): InstanceRecord[] {
    return [...this.items.values()].map((item) => decodeItem(storedItem(item)));
  }
}

function storedItem(item: { readonly json: string; readonly gz: Uint8Array | undefined }): StoredItem {
  const stored = JSON.parse(item.json) as StoredItem;
  return item.gz ? { ...stored, snapshotGz: item.gz } : stored;
}

function decode(
  item: { readonly json: string; readonly gz: Uint8Array | undefined },
  offload: SnapshotOffload | undefined,
): Promise<InstanceRecord> {
  return loadRecord(storedItem(item), offload?.payloads);
}
