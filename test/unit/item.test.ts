import { randomBytes } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { compressAboveBytes, decodeItem, encodeItem, itemBytes, maxItemBytes, type StoredItem } from '../../runtime/core/item.ts';
import { listIndexFields } from '../../runtime/core/listing.ts';
import type { PersistedSnapshot } from '../../runtime/core/registry.ts';
import type { HistoryEntry, InstanceRecord } from '../../runtime/core/store.ts';
import { instanceRecord } from '../support/records.ts';
import { thrownBy } from '../support/thrown.ts';

const record = instanceRecord;

/** A snapshot whose JSON is exactly `bytes` long. */
function snapshotOfBytes(bytes: number): PersistedSnapshot {
  const empty = JSON.stringify({ status: 'active', pad: '' }).length;
  return { status: 'active', pad: 'x'.repeat(bytes - empty) };
}

/** `count` history entries whose JSON all have the same length. */
function entries(count: number, typeLength = 1000): HistoryEntry[] {
  return Array.from({ length: count }, (_, i) => ({
    seq: String(1000 + i),
    type: 'T'.repeat(typeLength),
    outcome: 'resolve',
    at: '2026-11-23T10:00:00.000Z',
  }));
}

/** The size of a record stored without gzip or trimming, as itemBytes counts it (list-index fields included). */
function plainBytes(from: InstanceRecord): number {
  const { snapshot, ...rest } = from;
  return itemBytes({ ...rest, ...listIndexFields(from), snapshot: JSON.stringify(snapshot) });
}

describe('encodeItem', () => {
  it('keeps a snapshot of exactly compressAboveBytes as a plain JSON string', () => {
    const snapshot = snapshotOfBytes(compressAboveBytes);

    const item = encodeItem(record({ snapshot }));

    expect(item.snapshot).toBe(JSON.stringify(snapshot));
    expect(item.snapshotGz).toBeUndefined();
  });

  it('gzips a snapshot one byte above compressAboveBytes, and keeps no plain copy', () => {
    const snapshot = snapshotOfBytes(compressAboveBytes + 1);

    const item = encodeItem(record({ snapshot }));

    expect(item.snapshot).toBeUndefined();
    expect(item.snapshotGz).toBeInstanceOf(Uint8Array);
    expect(gunzipSync(item.snapshotGz as Uint8Array).toString('utf8')).toBe(JSON.stringify(snapshot));
    expect(item.snapshotGz?.byteLength).toBeLessThan(compressAboveBytes);
  });

  it('compresses above 4 KB', () => {
    expect(compressAboveBytes).toBe(4096);
  });

  it('keeps every history entry of an item exactly at maxItemBytes', () => {
    // Prepare
    const history = entries(10);
    const base = record({ history, tags: [''] });
    const pad = maxItemBytes - plainBytes(base);
    const full = record({ history, tags: ['p'.repeat(pad)] });

    // Act
    const item = encodeItem(full);

    // Assess
    expect(itemBytes(item)).toBe(maxItemBytes);
    expect(item.history).toEqual(history);
  });

  it('drops the oldest history entries first, only as many as the item needs to fit', () => {
    // Prepare: 400 entries of ~1 KB; with the padding, dropping exactly `dropped` entries brings the item to the limit.
    const history = entries(400);
    const entryBytes = JSON.stringify(history[0]).length + 1; // the entry and its comma
    const dropped = 37;
    const base = record({ history, tags: [''] });
    const pad = maxItemBytes + dropped * entryBytes - plainBytes(base);
    const exact = record({ history, tags: ['p'.repeat(pad)] });
    const oneByteMore = record({ history, tags: ['p'.repeat(pad + 1)] });

    // Act
    const fitted = encodeItem(exact);
    const fittedMore = encodeItem(oneByteMore);

    // Assess
    expect(itemBytes(fitted)).toBe(maxItemBytes);
    expect(fitted.history).toEqual(history.slice(dropped));
    expect(fitted.history.at(-1)).toEqual(history.at(-1));
    expect(itemBytes(fittedMore)).toBeLessThanOrEqual(maxItemBytes);
    expect(fittedMore.history).toEqual(history.slice(dropped + 1));
  });

  it('drops the whole history when even its newest entry does not fit', () => {
    const history = entries(1, maxItemBytes);

    const item = encodeItem(record({ history }));

    expect(item.history).toEqual([]);
    expect(item.snapshot).toBe(JSON.stringify(record().snapshot));
  });

  it('refuses with snapshot-too-large, blaming the timers, an item whose pending timers alone are too large', () => {
    // Prepare
    const timers = [{ token: 't-1', id: 'remind', event: { type: 'REMIND', note: 'n'.repeat(maxItemBytes) }, delay: 1000, fireAt: 5000 }];
    const big = record({ timers, history: entries(3) });
    const timersBytes = JSON.stringify(timers).length;

    // Act
    const error = thrownBy(() => encodeItem(big));

    // Assess
    expect(error.code).toBe('snapshot-too-large');
    expect(error.instanceKey).toBe('blob/b1');
    expect(error.message).toBe(
      `Instance blob/b1 would be ${plainBytes(record({ timers }))} bytes without any history, over the ${maxItemBytes}-byte item limit: ` +
        `its pending timers take ${timersBytes} bytes (a delayed event carries a large payload); timers ${timersBytes} bytes, undelivered dead letters 2 bytes. ` +
        "Keep large data out of the machine's context and events: store it elsewhere and keep a reference.",
    );
  });

  it('refuses with snapshot-too-large, blaming the gzipped snapshot, a snapshot that does not fit even gzipped', () => {
    const snapshot = { status: 'active', noise: randomBytes(maxItemBytes).toString('base64') } as PersistedSnapshot;

    expect(thrownBy(() => encodeItem(record({ snapshot }))).message).toMatch(
      /^Instance blob\/b1 would be \d+ bytes without any history, over the 399360-byte item limit: its snapshot takes \d+ bytes gzipped \(context, children\); timers 2 bytes, undelivered dead letters 2 bytes\./,
    );
  });

  it('blames the undelivered dead letters when they are what fills the item', () => {
    // Prepare
    const letters = Array.from({ length: 200 }, (_, i) => ({
      messageId: `m-${i}`,
      seq: String(i),
      code: 'invalid-json' as const,
      reason: 'r'.repeat(2048),
      at: '2026-11-23T10:00:00.000Z',
    }));
    const lettersBytes = JSON.stringify(letters).length;

    // Act + Assess
    expect(thrownBy(() => encodeItem(record({ letters }))).message).toContain(
      `its undelivered dead letters take ${lettersBytes} bytes (the dead-letter queue has refused them; each is sent when its record comes back); ` +
        `timers 2 bytes, undelivered dead letters ${lettersBytes} bytes`,
    );
  });

  it('blames the snapshot when the timers take exactly as many bytes as it does', () => {
    // Prepare: a 3,000-byte snapshot, timers of 3,000 bytes, and tags (neither of the three parts) that fill the item.
    const tags = ['t'.repeat(maxItemBytes)];
    const timer = (note: string) => [{ token: 't', id: 'i', event: { type: 'E', note }, delay: 1, fireAt: 1 }];
    const timers = timer('n'.repeat(3000 - JSON.stringify(timer('')).length));

    // Act
    const error = thrownBy(() => encodeItem(record({ snapshot: snapshotOfBytes(3000), timers, tags })));

    // Assess
    expect(JSON.stringify(timers).length).toBe(3000);
    expect(error.message).toContain('its snapshot takes 3000 bytes (context, children); timers 3000 bytes');
  });

  it('keeps an item that fits exactly at maxItemBytes once its whole history is dropped', () => {
    // Prepare
    const history = entries(1, 5000);
    const base = record({ tags: [''] });
    const pad = maxItemBytes - plainBytes(base);

    // Act
    const item = encodeItem(record({ history, tags: ['p'.repeat(pad)] }));

    // Assess
    expect(item.history).toEqual([]);
    expect(itemBytes(item)).toBe(maxItemBytes);
  });
});

describe('itemBytes', () => {
  it('counts the item as JSON and the gzipped snapshot as its raw bytes', () => {
    const { snapshot: _, ...rest } = record();
    const gz = new Uint8Array(100);

    expect(itemBytes({ ...rest, snapshotGz: gz })).toBe(Buffer.byteLength(JSON.stringify(rest)) + 100);
    expect(itemBytes({ ...rest, snapshot: '{"é":1}' })).toBe(Buffer.byteLength(JSON.stringify({ ...rest, snapshot: '{"é":1}' })));
  });
});

describe('decodeItem', () => {
  it('restores the record encodeItem stored, gzipped or not', () => {
    const small = record({ history: entries(2, 5) });
    const large = record({ snapshot: snapshotOfBytes(10_000) });

    expect(decodeItem(encodeItem(small))).toEqual(small);
    expect(decodeItem(encodeItem(large))).toEqual(large);
  });

  it('fills in empty lists for an item written before they existed, and a null snapshot when it has none', () => {
    const { snapshot: _, timers: _t, history: _h, letters: _l, tags: _g, states: _s, ...older } = record();

    const decoded = decodeItem(older as StoredItem);

    expect(decoded.snapshot).toBeNull();
    expect([decoded.timers, decoded.history, decoded.letters, decoded.tags, decoded.states]).toEqual([[], [], [], [], []]);
  });
});
