import { gunzipSync, gzipSync } from 'node:zlib';
import { PermanentError, VersionConflictError, describeError } from './errors.ts';
import type { MachineState } from './instance.ts';
import type { InstanceKey } from './instance-key.ts';
import { listIndexFields, type ListIndexFields } from './listing.ts';
import { silentLogger, type Logger } from './logger.ts';
import { checkObject, type ObjectRef, type PayloadStore, sha256Hex, snapshotObjectKey } from './payloads.ts';
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
  const { wakeAt, wakeShard } = dueIndexFields(key.key, state.timers, context.wakeShards);
  const record: InstanceRecord = {
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
    wakeAt,
    wakeShard,
    history: history.slice(Math.max(0, history.length - context.historyLimit)),
    letters: context.letters,
    createdAt: stored?.createdAt ?? now,
    updatedAt: now,
  };
  const snapshotRef = stored?.snapshotRef;
  // An instance whose snapshot could not be read keeps the item it has: its pointer, not a snapshot.
  const unreadableSnapshot = state === stored ? stored.unreadableSnapshot : undefined;
  if (!snapshotRef && !unreadableSnapshot) return record;
  return { ...record, ...(snapshotRef ? { snapshotRef } : {}), ...(unreadableSnapshot ? { unreadableSnapshot } : {}) };
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
 * An instance item as stored: the snapshot as a JSON string, gzipped JSON above {@link compressAboveBytes}, or
 * a pointer to its gzipped JSON in the payload bucket (`snapshotRef`); and the fields of the list index (derived
 * from the record, never read back into it).
 */
export interface StoredItem extends Omit<InstanceRecord, 'snapshot'>, Partial<ListIndexFields> {
  readonly snapshot?: string;
  readonly snapshotGz?: Uint8Array;
}

/** Snapshots to the payload bucket: where, and above how many gzipped bytes. */
export interface SnapshotOffload {
  readonly payloads: PayloadStore;
  /** Snapshots whose gzipped JSON is larger go to the bucket (0: every snapshot above {@link compressAboveBytes}). */
  readonly aboveBytes: number;
  /** Told when a superseded object could not be marked: it is then kept, never lost. @default silent */
  readonly logger?: Logger;
}

/** An item to write, and the object to put before it when its snapshot goes to the bucket. */
export interface EncodedItem {
  readonly item: StoredItem;
  readonly upload?: { readonly key: string; readonly body: Uint8Array };
}

/** An estimate of the item's size as DynamoDB counts it, never below it: the item as JSON, binary as raw bytes. */
export function itemBytes(item: StoredItem): number {
  const { snapshotGz, ...rest } = item;
  return Buffer.byteLength(JSON.stringify(rest)) + (snapshotGz?.byteLength ?? 0);
}

/**
 * Whether the item is within {@link maxItemBytes} by {@link itemBytes}. A typical item is a few KB, far under the
 * limit: a bound on its JSON size that walks it without building the string (each character of a string or key
 * at most 6 bytes, as `\uXXXX`) settles that for a tenth of the cost of `JSON.stringify`; only an item whose
 * bound is over the limit is measured exactly.
 */
export function itemFits(item: StoredItem): boolean {
  const { snapshotGz } = item;
  const binary = snapshotGz?.byteLength ?? 0;
  let bound = 2;
  for (const field in item) {
    if (field !== 'snapshotGz') bound += 6 * field.length + 4 + jsonBytesAtMost((item as unknown as Record<string, unknown>)[field]);
  }
  return bound + binary <= maxItemBytes || itemBytes(item) <= maxItemBytes;
}

/**
 * At least the UTF-8 bytes of `JSON.stringify(value)` (an `undefined` field counts although it is dropped);
 * `Infinity` for anything but plain JSON data (a `toJSON`, a BigInt, a function), which only the exact count can tell.
 */
export function jsonBytesAtMost(value: unknown): number {
  switch (typeof value) {
    case 'string':
      return 6 * value.length + 2;
    case 'number':
      return 25; // the longest a double prints: '-1.2345678901234567e-308', '-0.0000012345678901234567'
    case 'boolean':
    case 'undefined':
      return 5;
    case 'object': {
      if (value === null) return 4;
      if (Array.isArray(value)) {
        let bytes = 2;
        for (const element of value as unknown[]) bytes += jsonBytesAtMost(element) + 1;
        return bytes;
      }
      if (typeof (value as { toJSON?: unknown }).toJSON === 'function' || ArrayBuffer.isView(value)) return Number.POSITIVE_INFINITY;
      let bytes = 2;
      for (const key in value) bytes += 6 * key.length + 4 + jsonBytesAtMost((value as Record<string, unknown>)[key]);
      return bytes;
    }
    default:
      return Number.POSITIVE_INFINITY;
  }
}

/** Encodes a record for storage, its snapshot inline (see {@link encodeRecord}). */
export function encodeItem(record: InstanceRecord): StoredItem {
  return encodeRecord(record).item;
}

/**
 * Encodes a record for storage. With `offload`, a snapshot whose gzipped JSON is over its `aboveBytes`, or that
 * would not fit the item, goes to the payload bucket: the item keeps its key, size and hash, and an unchanged
 * snapshot keeps the object it already has. History is what may give way: when the item would be over
 * {@link maxItemBytes}, the oldest entries are dropped until it fits, so history can never stop an instance
 * from taking its next events. If the item does not fit without any history, the machine's own state is
 * too large: a `snapshot-too-large` error says how large each part is.
 */
export function encodeRecord(record: InstanceRecord, offload?: Pick<SnapshotOffload, 'aboveBytes'>): EncodedItem {
  // One copy of the record's fields, which the item then extends: a copy per step shows in the worker's profile.
  const { snapshot, snapshotRef, unreadableSnapshot, ...rest } = record;
  const { listShard, listSort, inStates } = listIndexFields(record);
  const fields: Omit<StoredItem, 'snapshot' | 'snapshotGz'> & { snapshot?: string } = Object.assign(rest, {
    listShard,
    listSort,
    inStates,
  });
  const json = unreadableSnapshot ? '' : JSON.stringify(snapshot);
  let encoded: EncodedItem;
  if (unreadableSnapshot) {
    if (!snapshotRef) throw unreadableSnapshot;
    encoded = { item: { ...fields, snapshotRef } };
  } else if (json.length * 3 <= compressAboveBytes || Buffer.byteLength(json) <= compressAboveBytes) {
    fields.snapshot = json;
    encoded = { item: fields };
  } else {
    const gz = gzipSync(json);
    const inline = { ...fields, snapshotGz: gz };
    if (!offload || (gz.byteLength <= offload.aboveBytes && itemFits({ ...inline, history: [] }))) {
      encoded = { item: inline };
    } else {
      const sha256 = sha256Hex(gz);
      // An unchanged snapshot (a write that only forgets sent letters, say) keeps its object.
      if (snapshotRef?.sha256 === sha256) encoded = { item: { ...fields, snapshotRef } };
      else {
        const key = snapshotObjectKey(record.pk, record.version);
        encoded = { item: { ...fields, snapshotRef: { key, bytes: gz.byteLength, sha256 } }, upload: { key, body: gz } };
      }
    }
  }
  const stored = encoded.item;
  if (itemFits(stored)) return encoded;
  let size = itemBytes(stored);
  const history = [...record.history];
  while (history.length > 0 && size > maxItemBytes) {
    const dropped = history.shift();
    size -= Buffer.byteLength(JSON.stringify(dropped)) + 1;
  }
  const trimmed = { ...stored, history };
  if (history.length > 0 && itemBytes(trimmed) <= maxItemBytes) return { ...encoded, item: trimmed };
  const bare = { ...stored, history: [] };
  if (itemBytes(bare) <= maxItemBytes) return { ...encoded, item: bare };
  throw tooLarge(record, bare, offload !== undefined);
}

/**
 * Writes a record through `commit` (the store's conditional write), its snapshot first to the bucket when it
 * goes there. The item's write stays the commit point: a write that lost its race deletes the object it put,
 * nothing else having seen its key, and after a write that took the item to another object the one it pointed
 * to before is marked superseded, for the lifecycle rule to remove after a day. Returns the record as stored.
 */
export async function saveRecord(
  record: InstanceRecord,
  offload: SnapshotOffload | undefined,
  commit: (item: StoredItem) => Promise<void>,
): Promise<InstanceRecord> {
  const { item, upload } = encodeRecord(record, offload);
  if (upload && offload) await offload.payloads.put(upload.key, upload.body);
  try {
    await commit(item);
  } catch (error) {
    // Only a refused condition proves the item was not written; after any other failure it may have been.
    if (upload && offload && error instanceof VersionConflictError) await offload.payloads.remove(upload.key).catch(() => undefined);
    throw error;
  }
  const previous = record.snapshotRef;
  if (offload && previous && previous.key !== item.snapshotRef?.key) {
    await offload.payloads.supersede(previous.key).catch((error: unknown) =>
      (offload.logger ?? silentLogger).warn('A superseded snapshot object could not be marked; it is kept', {
        instanceKey: record.pk,
        key: previous.key,
        error: describeError(error),
      }),
    );
  }
  const { snapshotRef: _previous, ...saved } = record;
  return item.snapshotRef ? { ...saved, snapshotRef: item.snapshotRef } : saved;
}

/**
 * Reads a stored item back into its record, fetching an offloaded snapshot from `payloads`. When that object is
 * missing or not the one written, the record still reads (its lastSeq, history and letters are sound), with a
 * null `snapshot` and the reason in `unreadableSnapshot`: the worker dead-letters the instance's events with
 * it, a client's `get` reports it.
 */
export async function loadRecord(item: StoredItem, payloads: PayloadStore | undefined): Promise<InstanceRecord> {
  const ref = item.snapshotRef;
  if (!ref) return decodeItem(item);
  if (!payloads) {
    const reason = new PermanentError(
      'payload-missing',
      `The snapshot of ${item.pk} is in the payload bucket (${ref.key}), and this reader was given no bucket: set SETTLE_BUCKET ` +
        '(the CDK construct sets it on its functions), or for the settle CLI and client pass --bucket or connect with --stack.',
      { instanceKey: item.pk },
    );
    return decodeItem(item, reason);
  }
  return decodeItem(item, (await payloads.get(ref.key)) ?? null);
}

/**
 * Decodes a stored item. For an offloaded snapshot pass its object's bytes (`null`: there is none), or why it
 * could not be had; the record then has a null `snapshot` and the reason in `unreadableSnapshot`.
 */
export function decodeItem(item: StoredItem, snapshotObject?: Uint8Array | PermanentError | null): InstanceRecord {
  // The list index's fields are derived from the record: they are not part of it.
  const { snapshot, snapshotGz, listShard: _shard, listSort: _sort, inStates: _states, ...rest } = item;
  // Filled in place: `rest` is this function's own copy, and another copy per read shows in the worker's profile.
  const record = rest as Omit<StoredItem, 'snapshot' | 'snapshotGz'> & { -readonly [K in keyof InstanceRecord]: InstanceRecord[K] };
  record.snapshot = null as unknown as PersistedSnapshot;
  record.timers ??= [];
  record.history ??= [];
  record.letters ??= [];
  record.tags ??= [];
  record.states ??= [];
  const ref = rest.snapshotRef;
  if (!ref) {
    const json = snapshotGz ? gunzipSync(snapshotGz).toString('utf8') : (snapshot ?? 'null');
    record.snapshot = JSON.parse(json) as PersistedSnapshot;
    return record;
  }
  if (snapshotObject instanceof PermanentError) return { ...record, unreadableSnapshot: snapshotObject };
  if (!snapshotObject) return { ...record, unreadableSnapshot: missingSnapshot(item.pk, ref) };
  try {
    checkObject(ref, snapshotObject, item.pk, 'snapshot');
  } catch (error) {
    return { ...record, unreadableSnapshot: error as PermanentError };
  }
  return { ...record, snapshot: JSON.parse(gunzipSync(snapshotObject).toString('utf8')) as PersistedSnapshot };
}

function missingSnapshot(instanceKey: string, ref: ObjectRef): PermanentError {
  return new PermanentError(
    'payload-missing',
    `The snapshot of ${instanceKey} is offloaded to ${ref.key} in the payload bucket, and that object is not there, so the instance ` +
      'cannot be restored. Restore the object from a backup (it was never marked superseded, so no lifecycle rule removed it), ' +
      'then redrive the events from the DLQ.',
    { instanceKey },
  );
}

function tooLarge(record: InstanceRecord, bare: StoredItem, offloading: boolean): PermanentError {
  const snapshotBytes = bare.snapshotGz?.byteLength ?? Buffer.byteLength(bare.snapshot ?? '');
  const timersBytes = Buffer.byteLength(JSON.stringify(record.timers));
  const lettersBytes = Buffer.byteLength(JSON.stringify(record.letters));
  // The largest part is the cause; on a tie the snapshot, then the timers.
  const lettersCause = lettersBytes > snapshotBytes && lettersBytes > timersBytes;
  const snapshotCause = !lettersCause && timersBytes <= snapshotBytes;
  const part = lettersCause
    ? `its undelivered dead letters take ${lettersBytes} bytes (the dead-letter queue has refused them; each is sent when its record comes back)`
    : snapshotCause
      ? `its snapshot takes ${snapshotBytes} bytes${bare.snapshotGz ? ' gzipped' : ''} (context, children)`
      : `its pending timers take ${timersBytes} bytes (a delayed event carries a large payload)`;
  return new PermanentError(
    'snapshot-too-large',
    `Instance ${record.pk} would be ${itemBytes(bare)} bytes without any history, over the ${maxItemBytes}-byte item limit: ` +
      `${part}; timers ${timersBytes} bytes, undelivered dead letters ${lettersBytes} bytes. ` +
      "Keep large data out of the machine's context and events: store it elsewhere and keep a reference" +
      (snapshotCause && !offloading
        ? ', or give the worker a payload bucket (SETTLE_BUCKET; the CDK construct does) so that large snapshots go to S3.'
        : '.'),
    { instanceKey: record.pk },
  );
}
