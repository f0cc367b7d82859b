import { gunzipSync, gzipSync } from 'node:zlib';
import { PermanentError } from './errors.ts';
import type { MachineState } from './instance.ts';
import type { InstanceKey } from './instance-key.ts';
import { listIndexFields, type ListIndexFields } from './listing.ts';
import type { PersistedSnapshot } from './registry.ts';
import type { HistoryEntry, InstanceRecord, PendingLetter } from './store.ts';
import { dueIndexFields } from './timers.ts';

/**
 * The record of an instance, and its stored form as one DynamoDB item: pure functions, used by the worker
 * to build what it saves and by every store adapter to encode it, so that each enforces the same size rule
 * (docs/DESIGN.md, "Item layout").
 */

/** The record to save: the settled machine state, what was handled, and what is still to be sent. */
export function buildRecord(
  key: InstanceKey,
  state: MachineState,
  context: {
    readonly stored: InstanceRecord | undefined;
    readonly history: readonly HistoryEntry[];
    readonly letters: readonly PendingLetter[];
    readonly lastSeq: string;
    /** Epoch milliseconds. */
    readonly now: number;
    readonly historyLimit: number;
    readonly wakeShards: number;
  },
): InstanceRecord {
  const { stored, history } = context;
  const now = new Date(context.now).toISOString();
  return {
    pk: key.key,
    machine: key.machine,
    machineVersion: state.machineVersion,
    snapshot: state.snapshot,
    status: state.status,
    value: state.value,
    states: state.states,
    tags: state.tags,
    timers: state.timers,
    version: (stored?.version ?? 0) + 1,
    lastSeq: context.lastSeq,
    outcome: history.at(-1)?.outcome ?? stored?.outcome,
    ...dueIndexFields(key.key, state.timers, context.wakeShards),
    history: history.slice(Math.max(0, history.length - context.historyLimit)),
    letters: context.letters,
    createdAt: stored?.createdAt ?? now,
    updatedAt: now,
  };
}

/**
 * Snapshots above this many bytes of JSON are stored gzipped: DynamoDB bills a write unit per KB, and gzip
 * takes a 10 KB context from 12 units to 4 (docs/PERFORMANCE.md). Smaller ones stay readable in `get-item`.
 */
export const compressAboveBytes = 4 * 1024;

/**
 * What an item may take. DynamoDB's limit is 400 KB counting attribute names and values; the estimate
 * below counts the item as JSON, which is larger than DynamoDB's own count, and keeps 10 KB besides.
 */
export const maxItemBytes = 390 * 1024;

/**
 * An instance item as stored: the snapshot as a JSON string, or gzipped JSON above {@link compressAboveBytes},
 * and the fields of the list index (derived from the record, never read back into it).
 */
export interface StoredItem extends Omit<InstanceRecord, 'snapshot'>, Partial<ListIndexFields> {
  readonly snapshot?: string;
  readonly snapshotGz?: Uint8Array;
}

/** An estimate of the item's size as DynamoDB counts it, never below it: the item as JSON, binary as raw bytes. */
export function itemBytes(item: StoredItem): number {
  const { snapshotGz, ...rest } = item;
  return Buffer.byteLength(JSON.stringify(rest)) + (snapshotGz?.byteLength ?? 0);
}

/**
 * Encodes a record for storage. History is what may give way: when the item would be over
 * {@link maxItemBytes}, the oldest entries are dropped until it fits, so history can never stop an instance
 * from taking its next events. If the item does not fit without any history, the machine's own state is
 * too large: a `snapshot-too-large` error says how large each part is.
 */
export function encodeItem(record: InstanceRecord): StoredItem {
  const { snapshot, ...rest } = record;
  const json = JSON.stringify(snapshot);
  const fields = { ...rest, ...listIndexFields(record) };
  const stored: StoredItem =
    Buffer.byteLength(json) <= compressAboveBytes ? { ...fields, snapshot: json } : { ...fields, snapshotGz: gzipSync(json) };
  let size = itemBytes(stored);
  if (size <= maxItemBytes) return stored;
  const history = [...record.history];
  while (history.length > 0 && size > maxItemBytes) {
    const dropped = history.shift();
    size -= Buffer.byteLength(JSON.stringify(dropped)) + 1;
  }
  const trimmed = { ...stored, history };
  if (history.length > 0 && itemBytes(trimmed) <= maxItemBytes) return trimmed;
  const bare = { ...stored, history: [] };
  if (itemBytes(bare) <= maxItemBytes) return bare;
  throw tooLarge(record, bare);
}

export function decodeItem(item: StoredItem): InstanceRecord {
  // The list index's fields are derived from the record: they are not part of it.
  const { snapshot, snapshotGz, listShard: _shard, listSort: _sort, inStates: _states, ...rest } = item;
  const json = snapshotGz ? gunzipSync(snapshotGz).toString('utf8') : (snapshot ?? 'null');
  return {
    ...rest,
    snapshot: JSON.parse(json) as PersistedSnapshot,
    timers: rest.timers ?? [],
    history: rest.history ?? [],
    letters: rest.letters ?? [],
    tags: rest.tags ?? [],
    states: rest.states ?? [],
  };
}

function tooLarge(record: InstanceRecord, bare: StoredItem): PermanentError {
  const snapshotBytes = bare.snapshotGz?.byteLength ?? Buffer.byteLength(bare.snapshot ?? '');
  const timersBytes = Buffer.byteLength(JSON.stringify(record.timers));
  const lettersBytes = Buffer.byteLength(JSON.stringify(record.letters));
  // The largest part is the cause; on a tie the snapshot, then the timers.
  const part =
    lettersBytes > snapshotBytes && lettersBytes > timersBytes
      ? `its undelivered dead letters take ${lettersBytes} bytes (the dead-letter queue has refused them; each is sent when its record comes back)`
      : timersBytes > snapshotBytes
        ? `its pending timers take ${timersBytes} bytes (a delayed event carries a large payload)`
        : `its snapshot takes ${snapshotBytes} bytes${bare.snapshotGz ? ' gzipped' : ''} (context, children)`;
  return new PermanentError(
    'snapshot-too-large',
    `Instance ${record.pk} would be ${itemBytes(bare)} bytes without any history, over the ${maxItemBytes}-byte item limit: ` +
      `${part}; timers ${timersBytes} bytes, undelivered dead letters ${lettersBytes} bytes. ` +
      "Keep large data out of the machine's context and events: store it elsewhere and keep a reference.",
    { instanceKey: record.pk },
  );
}
