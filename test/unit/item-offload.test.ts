import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { type PermanentError, RetryableError, VersionConflictError } from '../../runtime/core/errors.ts';
import {
  compressAboveBytes,
  encodeRecord,
  itemBytes,
  loadRecord,
  maxItemBytes,
  saveRecord,
  type StoredItem,
} from '../../runtime/core/item.ts';
import type { Logger } from '../../runtime/core/logger.ts';
import { eventObjectKey, type ObjectRef, offloadEvent, type PayloadStore, pointerBody, sha256Hex } from '../../runtime/core/payloads.ts';
import { processBatch } from '../../runtime/core/process-batch.ts';
import type { PersistedSnapshot } from '../../runtime/core/registry.ts';
import type { HistoryEntry, InstanceRecord } from '../../runtime/core/store.ts';
import { MemoryPayloadStore } from '../../runtime/memory/memory-payloads.ts';
import { MemoryStore } from '../../runtime/memory/memory-store.ts';
import { budget, makeCore, stored } from '../support/core.ts';
import { fifoRecord, sequence } from '../support/records.ts';
import { blobRegistry, noise } from '../support/blob.ts';
import { instanceRecord } from '../support/records.ts';
import { thrownBy } from '../support/thrown.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
const snapshotKey = /^snapshots\/blob\/b1\/v(\d+)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.json\.gz$/;

const record = instanceRecord;

function snapshotWith(data: string): PersistedSnapshot {
  return { status: 'active', value: 'open', context: { data } };
}

/** What gzip makes of a snapshot: what the threshold is compared with, and what goes to the bucket. */
const gzipped = (snapshot: PersistedSnapshot) => gzipSync(JSON.stringify(snapshot));

/** `count` history entries of about 1 KB each. */
function entries(count: number): HistoryEntry[] {
  return Array.from({ length: count }, (_, i) => ({
    seq: String(1000 + i),
    type: 'T'.repeat(1000),
    outcome: 'resolve' as const,
    at: '2026-11-23T10:00:00.000Z',
  }));
}

/** The ref an item keeps for `snapshot` stored under `key`. */
function refOf(key: string, snapshot: PersistedSnapshot): ObjectRef {
  const gz = gzipped(snapshot);
  return { key, bytes: gz.byteLength, sha256: sha256Hex(gz) };
}

/** A commit that keeps what it is given, or fails as told; `onCommit` sees the bucket at the moment of the write. */
function committer(failure?: Error, onCommit?: () => void) {
  const items: StoredItem[] = [];
  return {
    items,
    commit: async (item: StoredItem) => {
      onCommit?.();
      if (failure) throw failure;
      items.push(item);
    },
  };
}

function recordingLogger(): Logger & { warnings: { message: string; details: unknown }[] } {
  const warnings: { message: string; details: unknown }[] = [];
  return { warnings, info: () => undefined, warn: (message, details) => void warnings.push({ message, details }), error: () => undefined };
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

describe('encodeRecord with a payload bucket', () => {
  it('keeps a snapshot whose gzipped JSON is exactly aboveBytes inline, and offloads one a byte over', () => {
    const snapshot = snapshotWith(noise(20 * KiB));
    const gz = gzipped(snapshot);

    const atLimit = encodeRecord(record({ snapshot }), { aboveBytes: gz.byteLength });
    const over = encodeRecord(record({ snapshot }), { aboveBytes: gz.byteLength - 1 });

    expect(atLimit.upload).toBeUndefined();
    expect(atLimit.item.snapshotRef).toBeUndefined();
    expect(Buffer.from(atLimit.item.snapshotGz as Uint8Array)).toEqual(gz);
    expect(over.item.snapshotGz).toBeUndefined();
    expect(over.item.snapshot).toBeUndefined();
    expect(over.item.snapshotRef).toEqual({ key: expect.stringMatching(snapshotKey), bytes: gz.byteLength, sha256: sha256Hex(gz) });
    expect(over.item.snapshotRef?.key).toMatch(/\/v3-/);
    expect(over.upload?.key).toBe(over.item.snapshotRef?.key);
    expect(gunzipSync(over.upload?.body as Uint8Array).toString('utf8')).toBe(JSON.stringify(snapshot));
  });

  it('compares the gzipped size, not the JSON: a large snapshot that gzips small stays inline', () => {
    const snapshot = snapshotWith('a'.repeat(200 * KiB));
    expect(gzipped(snapshot).byteLength).toBeLessThan(2 * KiB);

    const encoded = encodeRecord(record({ snapshot }), { aboveBytes: 2 * KiB });

    expect(encoded.upload).toBeUndefined();
    expect(encoded.item.snapshotGz).toBeDefined();
  });

  it('never offloads a snapshot small enough to stay plain JSON, even with aboveBytes 0', () => {
    const snapshot = snapshotWith('x'.repeat(compressAboveBytes - 100));

    const encoded = encodeRecord(record({ snapshot }), { aboveBytes: 0 });

    expect(encoded.upload).toBeUndefined();
    expect(encoded.item.snapshot).toBe(JSON.stringify(snapshot));
  });

  it('offloads a snapshot under the threshold whose item would not fit, where the inline rule refuses it', () => {
    // ~225 KB gzipped, under a 1 MiB threshold; with 200 KB of tags the item would pass maxItemBytes.
    const snapshot = snapshotWith(noise(300 * KiB));
    const large = record({ snapshot, tags: ['t'.repeat(200 * KiB)] });
    expect(gzipped(snapshot).byteLength).toBeLessThan(MiB);

    const encoded = encodeRecord(large, { aboveBytes: MiB });

    expect(thrownBy(() => encodeRecord(large)).code).toBe('snapshot-too-large');
    expect(encoded.upload).toBeDefined();
    expect(encoded.item.snapshotRef?.key).toMatch(snapshotKey);
    expect(itemBytes(encoded.item)).toBeLessThanOrEqual(maxItemBytes);
  });

  it('lets history give way rather than offload a snapshot that fits without it', () => {
    const snapshot = snapshotWith(noise(300 * KiB));
    const history = entries(200);

    const encoded = encodeRecord(record({ snapshot, history }), { aboveBytes: MiB });

    expect(encoded.upload).toBeUndefined();
    expect(encoded.item.snapshotGz).toBeDefined();
    expect(itemBytes(encoded.item)).toBeLessThanOrEqual(maxItemBytes);
    expect(encoded.item.history.length).toBeGreaterThan(0);
    expect(encoded.item.history.length).toBeLessThan(200);
    expect(encoded.item.history.at(-1)).toEqual(history.at(-1));
  });

  it('trims the history of an offloaded item too, when the rest of it is large', () => {
    const snapshot = snapshotWith(noise(50 * KiB));
    const history = entries(300);

    const encoded = encodeRecord(record({ snapshot, history, tags: ['t'.repeat(200 * KiB)] }), { aboveBytes: 0 });

    expect(encoded.upload).toBeDefined();
    expect(itemBytes(encoded.item)).toBeLessThanOrEqual(maxItemBytes);
    expect(encoded.item.history.length).toBeLessThan(300);
    expect(encoded.item.history.at(-1)).toEqual(history.at(-1));
  });

  it('keeps the object of an unchanged snapshot: the same key and no upload', () => {
    const snapshot = snapshotWith(noise(20 * KiB));
    const previous = refOf('snapshots/blob/b1/v1-00000000-0000-4000-8000-000000000000.json.gz', snapshot);

    const encoded = encodeRecord(record({ snapshot, snapshotRef: previous, letters: [] }), { aboveBytes: 0 });

    expect(encoded.upload).toBeUndefined();
    expect(encoded.item.snapshotRef).toEqual(previous);
  });

  it('writes a new object when the snapshot changed, however little', () => {
    const data = noise(20 * KiB);
    const previous = refOf('snapshots/blob/b1/v1-00000000-0000-4000-8000-000000000000.json.gz', snapshotWith(data));

    const encoded = encodeRecord(record({ snapshot: snapshotWith(`${data}!`), snapshotRef: previous }), { aboveBytes: 0 });

    expect(encoded.upload?.key).toMatch(snapshotKey);
    expect(encoded.item.snapshotRef?.key).not.toBe(previous.key);
  });
});

describe('saveRecord', () => {
  const previousKey = 'snapshots/blob/b1/v2-11111111-1111-4111-8111-111111111111.json.gz';

  /** A bucket holding the object `previous` points to. */
  async function bucketWith(previous: PersistedSnapshot): Promise<{ payloads: MemoryPayloadStore; ref: ObjectRef }> {
    const payloads = new MemoryPayloadStore();
    await payloads.put(previousKey, gzipped(previous));
    return { payloads, ref: refOf(previousKey, previous) };
  }

  it('puts the object before the commit, then marks the object it replaced superseded', async () => {
    const { payloads, ref } = await bucketWith(snapshotWith(noise(20 * KiB)));
    const snapshot = snapshotWith(noise(20 * KiB));
    let inBucketAtCommit: string[] = [];
    const { items, commit } = committer(undefined, () => (inBucketAtCommit = [...payloads.objects.keys()]));

    const saved = await saveRecord(record({ snapshot, snapshotRef: ref }), { payloads, aboveBytes: 0 }, commit);

    const newKey = items[0]?.snapshotRef?.key as string;
    expect(newKey).toMatch(snapshotKey);
    expect(inBucketAtCommit).toEqual([previousKey, newKey]);
    expect([...payloads.superseded]).toEqual([previousKey]);
    expect(saved.snapshotRef).toEqual(items[0]?.snapshotRef);
    expect(saved.snapshotRef).toEqual(refOf(newKey, snapshot));
    expect(saved.snapshot).toEqual(snapshot);
  });

  it('supersedes nothing when the snapshot kept its object, and uploads nothing', async () => {
    const snapshot = snapshotWith(noise(20 * KiB));
    const { payloads, ref } = await bucketWith(snapshot);
    const { items, commit } = committer();

    const saved = await saveRecord(record({ snapshot, snapshotRef: ref }), { payloads, aboveBytes: 0 }, commit);

    expect(items[0]?.snapshotRef).toEqual(ref);
    expect([...payloads.objects.keys()]).toEqual([previousKey]);
    expect(payloads.superseded.size).toBe(0);
    expect(saved.snapshotRef).toEqual(ref);
  });

  it('supersedes nothing on the first offload of an instance', async () => {
    const payloads = new MemoryPayloadStore();
    const { items, commit } = committer();

    const saved = await saveRecord(record({ snapshot: snapshotWith(noise(20 * KiB)) }), { payloads, aboveBytes: 0 }, commit);

    expect(payloads.objects.size).toBe(1);
    expect(payloads.superseded.size).toBe(0);
    expect(saved.snapshotRef?.key).toBe(items[0]?.snapshotRef?.key);
  });

  it('stores a snapshot inline again once it is small, without a ref, and supersedes the object it had', async () => {
    const { payloads, ref } = await bucketWith(snapshotWith(noise(20 * KiB)));
    const { items, commit } = committer();
    const small = snapshotWith('small');

    const saved = await saveRecord(record({ snapshot: small, snapshotRef: ref }), { payloads, aboveBytes: 0 }, commit);

    expect(items[0]?.snapshotRef).toBeUndefined();
    expect(items[0]?.snapshot).toBe(JSON.stringify(small));
    expect('snapshotRef' in saved).toBe(false);
    expect([...payloads.superseded]).toEqual([previousKey]);
    expect(payloads.objects.size).toBe(1);
  });

  it('deletes the object it put when the commit lost its race, and supersedes nothing', async () => {
    const { payloads, ref } = await bucketWith(snapshotWith(noise(20 * KiB)));
    const conflict = new VersionConflictError('blob/b1', 3);
    let putBeforeCommit = 0;
    const { commit } = committer(conflict, () => (putBeforeCommit = payloads.objects.size));

    const error = await rejectionOf(
      saveRecord(record({ snapshot: snapshotWith(noise(20 * KiB)), snapshotRef: ref }), { payloads, aboveBytes: 0 }, commit),
    );

    expect(error).toBe(conflict);
    expect(putBeforeCommit).toBe(2);
    expect([...payloads.objects.keys()]).toEqual([previousKey]);
    expect(payloads.superseded.size).toBe(0);
  });

  it('keeps the object it put after any other commit failure: the write may have landed', async () => {
    for (const failure of [new RetryableError('storage-unavailable', 'DynamoDB timed out'), new Error('socket hang up')]) {
      const { payloads, ref } = await bucketWith(snapshotWith(noise(20 * KiB)));
      const { commit } = committer(failure);

      const error = await rejectionOf(
        saveRecord(record({ snapshot: snapshotWith(noise(20 * KiB)), snapshotRef: ref }), { payloads, aboveBytes: 0 }, commit),
      );

      expect(error).toBe(failure);
      expect(payloads.objects.size, failure.message).toBe(2);
      expect(payloads.superseded.size).toBe(0);
    }
  });

  it('keeps a reused object when its commit lost its race: it is still the stored item’s', async () => {
    const snapshot = snapshotWith(noise(20 * KiB));
    const { payloads, ref } = await bucketWith(snapshot);
    const { commit } = committer(new VersionConflictError('blob/b1', 3));

    await rejectionOf(saveRecord(record({ snapshot, snapshotRef: ref }), { payloads, aboveBytes: 0 }, commit));

    expect([...payloads.objects.keys()]).toEqual([previousKey]);
  });

  it('puts nothing and commits nothing for a record too large even offloaded', async () => {
    const payloads = new MemoryPayloadStore();
    const { items, commit } = committer();
    const timers = [{ id: 'big', eventType: 'DUE', fireAt: 1, token: 't', event: { type: 'DUE', pad: 'p'.repeat(400 * KiB) } }];

    const error = await rejectionOf(
      saveRecord(
        record({ snapshot: snapshotWith(noise(20 * KiB)), timers } as unknown as Partial<InstanceRecord>),
        { payloads, aboveBytes: 0 },
        commit,
      ),
    );

    expect((error as { code?: string }).code).toBe('snapshot-too-large');
    expect(payloads.objects.size).toBe(0);
    expect(items).toEqual([]);
  });

  it('logs, and does not fail the write, when the replaced object cannot be marked', async () => {
    const { payloads, ref } = await bucketWith(snapshotWith(noise(20 * KiB)));
    const failing: PayloadStore = {
      bucket: payloads.bucket,
      put: (key, body) => payloads.put(key, body),
      get: (key) => payloads.get(key),
      remove: (key) => payloads.remove(key),
      supersede: () => Promise.reject(new RetryableError('payload-store-unavailable', 'S3 is down')),
    };
    const logger = recordingLogger();
    const { items, commit } = committer();

    const saved = await saveRecord(
      record({ snapshot: snapshotWith(noise(20 * KiB)), snapshotRef: ref }),
      { payloads: failing, aboveBytes: 0, logger },
      commit,
    );

    expect(items).toHaveLength(1);
    expect(saved.snapshotRef?.key).toBe(items[0]?.snapshotRef?.key);
    expect(logger.warnings).toHaveLength(1);
    expect(logger.warnings[0]?.message).toMatch(/superseded snapshot object could not be marked/);
    expect(logger.warnings[0]?.details).toMatchObject({ instanceKey: 'blob/b1', key: previousKey });
  });
});

describe('loadRecord', () => {
  /** An item saved with its snapshot in `payloads`. */
  async function savedItem(payloads: MemoryPayloadStore, snapshot: PersistedSnapshot, history: HistoryEntry[] = []): Promise<StoredItem> {
    const { items, commit } = committer();
    await saveRecord(record({ snapshot, history }), { payloads, aboveBytes: 64 * KiB }, commit);
    const item = items[0];
    if (!item?.snapshotRef) throw new Error('the snapshot was not offloaded');
    // As a store keeps it: JSON, binary aside.
    return JSON.parse(JSON.stringify(item)) as StoredItem;
  }

  it('reads back a 1 MiB incompressible context from the bucket, the item keeping only a pointer', async () => {
    const payloads = new MemoryPayloadStore();
    const snapshot = snapshotWith(noise(MiB));

    const item = await savedItem(payloads, snapshot);
    const loaded = await loadRecord(item, payloads);

    expect(itemBytes(item)).toBeLessThan(2 * KiB);
    expect(item.snapshot).toBeUndefined();
    expect(item.snapshotGz).toBeUndefined();
    expect(loaded.snapshot).toEqual(snapshot);
    expect(loaded.snapshotRef).toEqual(item.snapshotRef);
    expect(loaded).toMatchObject({ pk: 'blob/b1', version: 3, lastSeq: '18000000000000000003' });
  });

  it('reads a record whose object is missing, with a null snapshot and payload-missing as the reason', async () => {
    const payloads = new MemoryPayloadStore();
    const history = entries(2);
    const item = await savedItem(payloads, snapshotWith(noise(100 * KiB)), history);
    const key = item.snapshotRef?.key as string;
    await payloads.remove(key);

    const loaded = await loadRecord(item, payloads);

    expect(loaded.lastSeq).toBe('18000000000000000003');
    expect(loaded.history).toEqual(history);
    expect(loaded.version).toBe(3);
    expect(loaded.snapshot).toBeNull();
    expect(loaded.snapshotRef?.key).toBe(key);
    const error = loaded.unreadableSnapshot as PermanentError;
    expect(error.code).toBe('payload-missing');
    expect(error.instanceKey).toBe('blob/b1');
    expect(error.message).toContain(`The snapshot of blob/b1 is offloaded to ${key} in the payload bucket, and that object is not there`);
    expect(error.message).toMatch(/Restore the object from a backup.*then redrive the events from the DLQ\.$/);
  });

  it('says payload-missing when the reader has no bucket at all', async () => {
    const item = await savedItem(new MemoryPayloadStore(), snapshotWith(noise(100 * KiB)));

    const loaded = await loadRecord(item, undefined);

    expect(loaded.lastSeq).toBe('18000000000000000003');
    expect(loaded.snapshot).toBeNull();
    expect(loaded.unreadableSnapshot?.code).toBe('payload-missing');
    expect(loaded.unreadableSnapshot?.message).toContain('this reader was given no bucket: set SETTLE_BUCKET');
  });

  it('refuses an altered object as payload-corrupt: the same size with another hash, or another size', async () => {
    const payloads = new MemoryPayloadStore();
    const item = await savedItem(payloads, snapshotWith(noise(100 * KiB)));
    const key = item.snapshotRef?.key as string;
    const original = (await payloads.get(key)) as Uint8Array;
    const flipped = Uint8Array.from(original);
    flipped[flipped.length - 9] = (flipped[flipped.length - 9] ?? 0) ^ 0xff;
    const other = gzipSync(JSON.stringify(snapshotWith('another snapshot')));

    for (const replacement of [flipped, other]) {
      await payloads.put(key, replacement);

      const loaded = await loadRecord(item, payloads);

      expect(loaded.lastSeq).toBe('18000000000000000003');
      expect(loaded.snapshot).toBeNull();
      const error = loaded.unreadableSnapshot as PermanentError;
      expect(error.code).toBe('payload-corrupt');
      expect(error.message).toContain(
        `The snapshot object ${key} of instance blob/b1 is not the one that was written: ${replacement.byteLength} bytes`,
      );
    }
  });
});

const registry = blobRegistry;

describe('the worker over a MemoryStore that offloads', () => {
  const pk = 'blob/b1';

  function offloadingCore() {
    const payloads = new MemoryPayloadStore();
    const store = new MemoryStore({ payloads, aboveBytes: 8 * KiB });
    const { core, deadLetters } = makeCore(registry, { store, payloads });
    /** Every snapshot object is the stored item's or marked superseded: none is left behind. */
    const strays = async () => {
      const current = (await stored(store, pk)).snapshotRef?.key;
      return [...payloads.objects.keys()].filter((key) => key.startsWith('snapshots/') && key !== current && !payloads.superseded.has(key));
    };
    return { core, store, payloads, deadLetters, strays };
  }

  const add = (seq: number, data: string) => fifoRecord(pk, sequence(seq), { type: 'ADD', data });

  it('applies events across batches as the context grows past the threshold, restoring it from the bucket each time', async () => {
    const { core, store, payloads, strays } = offloadingCore();
    const parts = [noise(100), noise(12 * KiB), noise(4 * KiB), noise(4 * KiB), noise(4 * KiB)];

    expect((await processBatch([add(1, parts[0] as string)], core, budget())).batchItemFailures).toEqual([]);
    expect((await stored(store, pk)).snapshotRef).toBeUndefined();
    const refs: (ObjectRef | undefined)[] = [];
    for (const [index, batch] of [
      [add(2, parts[1] as string)],
      [add(3, parts[2] as string), add(4, parts[3] as string)],
      [add(5, parts[4] as string)],
    ].entries()) {
      expect((await processBatch(batch, core, budget())).batchItemFailures, `batch ${index + 2}`).toEqual([]);
      refs.push((await stored(store, pk)).snapshotRef);
    }

    const after = await stored(store, pk);
    expect(after.snapshot.context).toEqual({ items: parts });
    expect(after).toMatchObject({ version: 4, lastSeq: sequence(5).toString() });
    expect(after.history.map((entry) => entry.outcome)).toEqual(['resolve', 'resolve', 'resolve', 'resolve', 'resolve']);
    // The second batch took the context past 8 KiB gzipped: from then on every write has an object of its own.
    expect(refs.every((ref) => ref !== undefined)).toBe(true);
    expect(refs.map((ref) => ref?.key.match(snapshotKey)?.[1])).toEqual(['2', '3', '4']);
    expect(new Set(refs.map((ref) => ref?.key)).size).toBe(3);
    expect([...payloads.superseded].sort()).toEqual([refs[0]?.key, refs[1]?.key].sort());
    expect(await strays()).toEqual([]);
    expect(store.calls.write).toBe(4);
  });

  it('keeps the object when a second write of the batch only forgets sent letters', async () => {
    const { core, store, payloads, deadLetters, strays } = offloadingCore();
    await processBatch([add(1, noise(20 * KiB))], core, budget());
    const before = await stored(store, pk);

    const boom = fifoRecord(pk, sequence(2), { type: 'BOOM' });
    expect((await processBatch([boom, add(3, noise(100))], core, budget())).batchItemFailures).toEqual([]);

    expect(deadLetters.letters.map((letter) => [letter.messageId, letter.error.code])).toEqual([[boom.messageId, 'machine-error']]);
    const after = await stored(store, pk);
    // One write recorded the batch and its letter, one more forgot the letter once sent; both point to one new object.
    expect(after.version).toBe(before.version + 2);
    expect(after.letters).toEqual([]);
    expect(after.snapshotRef?.key).not.toBe(before.snapshotRef?.key);
    const snapshotObjects = [...payloads.objects.keys()].filter((key) => key.startsWith('snapshots/'));
    expect(snapshotObjects.sort()).toEqual([before.snapshotRef?.key, after.snapshotRef?.key].sort());
    expect(await strays()).toEqual([]);
  });

  it('applies a claim-checked event larger than SQS allows, read from the bucket, into an offloaded snapshot', async () => {
    const { core, store, payloads, deadLetters } = offloadingCore();
    const data = noise(MiB);
    const pointer = await offloadEvent(payloads, pk, JSON.stringify({ type: 'ADD', data }), 'ADD');

    const response = await processBatch([fifoRecord(pk, sequence(1), pointer), add(2, 'small')], core, budget());

    expect(response.batchItemFailures).toEqual([]);
    expect(deadLetters.letters).toEqual([]);
    const after = await stored(store, pk);
    expect(after.snapshot.context).toEqual({ items: [data, 'small'] });
    expect(after.history.map((entry) => [entry.type, entry.outcome])).toEqual([
      ['ADD', 'resolve'],
      ['ADD', 'resolve'],
    ]);
    expect(after.snapshotRef?.key).toMatch(snapshotKey);
  });

  it("dead-letters a claim check for another instance's object, and a worker without a bucket refuses any", async () => {
    const { core, store, payloads, deadLetters } = offloadingCore();
    const secret = JSON.stringify({ type: 'ADD', data: 'secret' });
    const victimKey = eventObjectKey('blob/victim', sha256Hex(secret));
    await payloads.put(victimKey, Buffer.from(secret));
    const forged = fifoRecord(
      pk,
      sequence(1),
      pointerBody({ bucket: payloads.bucket, key: victimKey, bytes: Buffer.byteLength(secret), sha256: sha256Hex(secret) }, 'ADD'),
    );
    const own = await offloadEvent(payloads, pk, JSON.stringify({ type: 'ADD', data: 'mine' }), 'ADD');
    const { core: bucketless, deadLetters: bucketlessLetters } = makeCore(registry, { store, payloads: undefined });

    await processBatch([forged, add(2, 'next')], core, budget());
    await processBatch([fifoRecord(pk, sequence(3), own)], bucketless, budget());

    expect(deadLetters.letters.map((letter) => [letter.messageId, letter.error.code])).toEqual([[forged.messageId, 'payload-refused']]);
    expect(bucketlessLetters.letters.map((letter) => letter.error.code)).toEqual(['payload-refused']);
    expect(bucketlessLetters.letters[0]?.error.message).toContain('SETTLE_BUCKET is not set');
    expect((await stored(store, pk)).snapshot.context).toEqual({ items: ['next'] });
  });

  it('dead-letters a new event with payload-missing when the snapshot object is gone, recording it in the history', async () => {
    const { core, store, payloads, deadLetters } = offloadingCore();
    const first = noise(20 * KiB);
    await processBatch([add(1, first)], core, budget());
    const before = await stored(store, pk);
    const key = before.snapshotRef?.key as string;
    const object = (await payloads.get(key)) as Uint8Array;
    await payloads.remove(key);

    const next = add(2, 'after the loss');
    const response = await processBatch([next], core, budget());

    expect(response.batchItemFailures).toEqual([]);
    expect(deadLetters.letters).toHaveLength(1);
    expect(deadLetters.letters[0]).toMatchObject({
      messageId: next.messageId,
      groupId: pk,
      body: next.body,
      sequenceNumber: sequence(2).toString(),
    });
    expect(deadLetters.letters[0]?.error.code).toBe('payload-missing');
    expect(deadLetters.letters[0]?.error.message).toContain(key);
    const after = await store.read(pk);
    // The worker records it (so sendAndWait answers dead-lettered) and keeps the item's pointer as it was.
    expect(after?.lastSeq).toBe(sequence(2).toString());
    expect(after?.history.at(-1)).toMatchObject({ seq: sequence(2).toString(), outcome: 'dead-lettered', error: 'payload-missing' });
    expect(after?.snapshotRef).toEqual(before.snapshotRef);

    // The item was left as it was: once the object is restored the instance goes on from its state.
    await payloads.put(key, object);
    expect((await processBatch([add(3, 'restored')], core, budget())).batchItemFailures).toEqual([]);
    expect((await stored(store, pk)).snapshot.context).toEqual({ items: [first, 'restored'] });
  });
});
