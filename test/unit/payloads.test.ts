/**
 * The payload bucket's pure parts (runtime/core/payloads.ts): the keys objects get, the claim check a large event
 * travels as, and what the worker accepts as one, against the in-memory payload store.
 */
import { describe, expect, it, vi } from 'vitest';
import { PermanentError } from '../../runtime/core/errors.ts';
import {
  checkObject,
  eventObjectKey,
  eventObjectPrefix,
  instanceSegment,
  letterObjectKey,
  maxOffloadedEventBytes,
  offloadEvent,
  pointerBody,
  pointerOf,
  type PayloadPointer,
  resolveBody,
  sha256Hex,
  snapshotObjectKey,
} from '../../runtime/core/payloads.ts';
import { payloadBucketDefinition } from '../../runtime/core/resources.ts';
import { MemoryPayloadStore } from '../../runtime/memory/memory-payloads.ts';

const hex = /^[0-9a-f]+$/;
const uuid = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';

/** What `promise` rejected with, which must be a PermanentError. */
async function rejection(promise: Promise<unknown>): Promise<PermanentError> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  if (!(error instanceof PermanentError)) throw new Error(`expected a PermanentError, got ${String(error)}`);
  return error;
}

/** The PermanentError `fn` throws. */
function thrown(fn: () => unknown): PermanentError {
  try {
    fn();
  } catch (error) {
    if (error instanceof PermanentError) return error;
    throw new Error(`expected a PermanentError, got ${String(error)}`);
  }
  throw new Error('expected a PermanentError, nothing was thrown');
}

/** A pointer to `content` under `key`, in `bucket`. */
function pointerTo(bucket: string, key: string, content: string | Uint8Array): PayloadPointer {
  const bytes = typeof content === 'string' ? Buffer.byteLength(content) : content.byteLength;
  return { bucket, key, bytes, sha256: sha256Hex(content) };
}

describe('instanceSegment and the keys built on it', () => {
  it('URI-encodes the instance id into one path segment, whatever it holds', () => {
    const cases: [string, string][] = [
      ['blob/b1', 'blob/b1'],
      ['blob/a/b', 'blob/a%2Fb'],
      ['blob/a/b/c', 'blob/a%2Fb%2Fc'],
      ['blob/50%', 'blob/50%25'],
      ['blob/a%2Fb', 'blob/a%252Fb'],
      ['blob/with space', 'blob/with%20space'],
      ['blob/café', 'blob/caf%C3%A9'],
      ['blob/🚀', 'blob/%F0%9F%9A%80'],
      ['my-machine-2/x?y#z', 'my-machine-2/x%3Fy%23z'],
    ];
    for (const [key, segment] of cases) {
      expect(instanceSegment(key), key).toBe(segment);
      // Machine and id: exactly two segments, and the id decodes back to what was given.
      const [machine, id, ...rest] = instanceSegment(key).split('/');
      expect(rest, key).toEqual([]);
      expect(`${machine}/${decodeURIComponent(id ?? '')}`, key).toBe(key);
    }
  });

  it('keeps ids that differ only by an encoded slash apart', () => {
    expect(eventObjectPrefix('blob/a/b')).not.toBe(eventObjectPrefix('blob/a%2Fb'));
    expect(eventObjectPrefix('blob/a')).toBe('events/blob/a/');
    // One id is no prefix of another's folder: 'blob/a' and 'blob/ab' do not share 'events/blob/a/'.
    expect(eventObjectPrefix('blob/ab').startsWith(eventObjectPrefix('blob/a'))).toBe(false);
    expect(eventObjectPrefix('blob/a/b').startsWith(eventObjectPrefix('blob/a'))).toBe(false);
  });

  it('puts a group id that names no instance under ~invalid/, as a hash of it', () => {
    for (const groupId of ['', 'noslash', '/x', 'Blob/x', 'my machine/x', 'blob_1/x', '../../etc/passwd']) {
      const segment = instanceSegment(groupId);
      expect(segment, JSON.stringify(groupId)).toBe(`~invalid/${sha256Hex(groupId).slice(0, 40)}`);
      expect(segment.split('/')).toHaveLength(2);
      expect(segment.slice('~invalid/'.length)).toMatch(hex);
    }
    expect(instanceSegment('Blob/x')).not.toBe(instanceSegment('Blob/y'));
    expect(eventObjectPrefix('noslash')).toBe(`events/~invalid/${sha256Hex('noslash').slice(0, 40)}/`);
  });

  it("names an event's object by the instance and the body's SHA-256", () => {
    const sha = sha256Hex('{"type":"ADD"}');

    expect(eventObjectKey('blob/a/b', sha)).toBe(`events/blob/a%2Fb/${sha}`);
    expect(eventObjectKey('blob/a/b', sha).startsWith(eventObjectPrefix('blob/a/b'))).toBe(true);
    expect(payloadBucketDefinition.eventsPrefix).toBe('events/');
  });

  it("names a dead letter's object by its instance and message id: the same letter, the same key", () => {
    const key = letterObjectKey('blob/b 1', 'message-1');

    expect(key).toBe(`events/blob/b%201/letter-${sha256Hex('message-1').slice(0, 40)}`);
    expect(letterObjectKey('blob/b 1', 'message-1')).toBe(key);
    expect(letterObjectKey('blob/b 1', 'message-2')).not.toBe(key);
    expect(key.startsWith(eventObjectPrefix('blob/b 1'))).toBe(true);
    expect(letterObjectKey('', 'message-1')).toMatch(/^events\/~invalid\/[0-9a-f]{40}\/letter-[0-9a-f]{40}$/);
  });

  it('gives every snapshot a key of its own: the instance, the version, and a writer id', () => {
    const first = snapshotObjectKey('blob/a/b', 7);
    const second = snapshotObjectKey('blob/a/b', 7);

    expect(first).not.toBe(second);
    for (const key of [first, second]) expect(key).toMatch(new RegExp(`^snapshots/blob/a%2Fb/v7-${uuid}\\.json\\.gz$`));
    expect(snapshotObjectKey('blob/b1', 12)).toMatch(new RegExp(`^snapshots/blob/b1/v12-${uuid}\\.json\\.gz$`));
    expect(snapshotObjectKey('Not A Key', 1)).toMatch(new RegExp(`^snapshots/~invalid/[0-9a-f]{40}/v1-${uuid}\\.json\\.gz$`));
  });
});

describe('pointerOf', () => {
  const pointer = pointerTo('settle-payloads', eventObjectKey('blob/b1', sha256Hex('x')), 'x');

  it('finds no pointer in a body that is not one', () => {
    for (const body of [
      '{"type":"ADD"}',
      '{"type":"ADD","payload":{"bucket":"b"}}',
      '{"type":"ADD","settle":{}}',
      '{"type":"ADD","settle":{"other":{"payload":1}}}',
      '"payload"',
      'null',
      '[{"settle":{"payload":{}}}]',
      'not JSON "payload"',
      '',
    ]) {
      expect(pointerOf(body, 'blob/b1'), body).toBeUndefined();
    }
  });

  it('reads a well-formed pointer, with or without a type', () => {
    expect(pointerOf(pointerBody(pointer, 'ADD'), 'blob/b1')).toEqual(pointer);
    expect(pointerOf(pointerBody(pointer, undefined), 'blob/b1')).toEqual(pointer);
    expect(JSON.parse(pointerBody(pointer, 'ADD'))).toEqual({ type: 'ADD', settle: { payload: pointer } });
    expect(JSON.parse(pointerBody(pointer, undefined))).toEqual({ settle: { payload: pointer } });
  });

  it('refuses a body that says it is a pointer but is not a well-formed one', () => {
    const { bucket, key, bytes, sha256 } = pointer;
    const malformed: unknown[] = [
      null,
      'a string',
      [],
      {},
      { key, bytes, sha256 },
      { bucket: 7, key, bytes, sha256 },
      { bucket, bytes, sha256 },
      { bucket, key: ['k'], bytes, sha256 },
      { bucket, key, sha256 },
      { bucket, key, bytes: '1', sha256 },
      { bucket, key, bytes: -1, sha256 },
      { bucket, key, bytes: 1.5, sha256 },
      { bucket, key, bytes: 2 ** 53, sha256 },
      { bucket, key, bytes },
      { bucket, key, bytes, sha256: sha256.toUpperCase() },
      { bucket, key, bytes, sha256: sha256.slice(1) },
      { bucket, key, bytes, sha256: `${sha256}0` },
      { bucket, key, bytes, sha256: `${sha256.slice(1)}g` },
    ];
    for (const payload of malformed) {
      const body = JSON.stringify({ type: 'ADD', settle: { payload } });
      const error = thrown(() => pointerOf(body, 'blob/b1'));
      expect(error.code, body).toBe('payload-refused');
      expect(error.instanceKey).toBe('blob/b1');
      expect(error.message).toContain('its "settle.payload" is not {bucket, key, bytes, sha256}');
    }
  });

  it('never takes a body over 4 KiB for a pointer: it is an event', () => {
    const base = pointerBody(pointer, '').length;
    const atLimit = pointerBody(pointer, 'T'.repeat(4096 - base));
    const over = pointerBody(pointer, 'T'.repeat(4097 - base));
    expect(atLimit.length).toBe(4096);
    expect(over.length).toBe(4097);

    expect(pointerOf(atLimit, 'blob/b1')).toEqual(pointer);
    expect(pointerOf(over, 'blob/b1')).toBeUndefined();
    // Not even a malformed one is refused: a large body is left to the event rules.
    const malformedOver = JSON.stringify({ type: 'ADD', settle: { payload: { bucket: 1 } }, pad: 'p'.repeat(5000) });
    expect(pointerOf(malformedOver, 'blob/b1')).toBeUndefined();
  });
});

describe('resolveBody', () => {
  const instance = 'blob/b 1/x';
  const event = JSON.stringify({ type: 'ADD', data: 'été 🚀 '.repeat(100) });

  async function stored(content = event): Promise<{ payloads: MemoryPayloadStore; body: string; key: string }> {
    const payloads = new MemoryPayloadStore('settle-payloads-test');
    const body = await offloadEvent(payloads, instance, content, 'ADD');
    return { payloads, body, key: eventObjectKey(instance, sha256Hex(content)) };
  }

  it('returns a body that is no pointer as it is, with or without a bucket', async () => {
    const body = '{"type":"ADD","data":"small"}';

    expect(await resolveBody(body, instance, undefined)).toEqual({ body, offloaded: false });
    expect(await resolveBody(body, instance, new MemoryPayloadStore())).toEqual({ body, offloaded: false });
  });

  it('returns exactly the body a claim check points to, read from the instance’s own prefix', async () => {
    const { payloads, body, key } = await stored();

    expect(JSON.parse(body)).toEqual({
      type: 'ADD',
      settle: { payload: { bucket: 'settle-payloads-test', key, bytes: Buffer.byteLength(event), sha256: sha256Hex(event) } },
    });
    expect([...payloads.objects.keys()]).toEqual([key]);
    expect(await resolveBody(body, instance, payloads)).toEqual({ body: event, offloaded: true });
  });

  it("takes claim checks for instances whose id is '.' or '..': their segment is encoded, never a path step", async () => {
    const payloads = new MemoryPayloadStore('settle-payloads-test');
    for (const id of ['.', '..']) {
      const body = await offloadEvent(payloads, `blob/${id}`, event, 'ADD');
      const { key } = JSON.parse(body).settle.payload as { key: string };

      expect(key.startsWith(`events/blob/${id.replaceAll('.', '%2E')}/`)).toBe(true);
      expect(await resolveBody(body, `blob/${id}`, payloads)).toEqual({ body: event, offloaded: true });
    }
  });

  it('writes the same object again for the same body: the key is its content', async () => {
    const payloads = new MemoryPayloadStore();
    const first = await offloadEvent(payloads, instance, event, 'ADD');
    const second = await offloadEvent(payloads, instance, event, 'ADD');

    expect(second).toBe(first);
    expect(payloads.objects.size).toBe(1);
  });

  it('refuses a claim check when the worker has no bucket, saying to set SETTLE_BUCKET', async () => {
    const { body } = await stored();

    const error = await rejection(resolveBody(body, instance, undefined));

    expect(error.code).toBe('payload-refused');
    expect(error.instanceKey).toBe(instance);
    expect(error.message).toContain(`The event for instance ${instance} is a claim check that was refused`);
    expect(error.message).toContain('SETTLE_BUCKET is not set');
  });

  it('refuses a pointer to another bucket without reading anything', async () => {
    const { payloads, key } = await stored();
    const get = vi.spyOn(payloads, 'get');
    const body = pointerBody(pointerTo('someone-elses-bucket', key, event), 'ADD');

    const error = await rejection(resolveBody(body, instance, payloads));

    expect(error.code).toBe('payload-refused');
    expect(error.message).toContain("it names bucket 'someone-elses-bucket', not this stack's 'settle-payloads-test'");
    expect(get).not.toHaveBeenCalled();
  });

  it("refuses a pointer to another instance's object, even one that exists and matches", async () => {
    const payloads = new MemoryPayloadStore();
    const secret = JSON.stringify({ type: 'ADD', data: 'of another instance' });
    const get = vi.spyOn(payloads, 'get');
    for (const owner of ['blob/victim', 'blob/b', 'blob/b 1', 'blob/b 1/xy', 'other/b 1/x', 'Blob/b 1/x']) {
      const key = eventObjectKey(owner, sha256Hex(secret));
      await payloads.put(key, Buffer.from(secret));
      const body = pointerBody(pointerTo(payloads.bucket, key, secret), 'ADD');

      const error = await rejection(resolveBody(body, instance, payloads));

      expect(error.code, owner).toBe('payload-refused');
      expect(error.message).toContain(`its key '${key}' is not under this instance's prefix 'events/blob/b%201%2Fx/'`);
    }
    expect(get).not.toHaveBeenCalled();
  });

  it('refuses keys outside the events prefix, and a key that climbs out of the prefix with /../', async () => {
    const payloads = new MemoryPayloadStore();
    const prefix = eventObjectPrefix(instance);
    const keys = [
      `${prefix}../victim/${sha256Hex(event)}`,
      `${prefix}x/../../victim/${sha256Hex(event)}`,
      `snapshots/blob/b%201%2Fx/${sha256Hex(event)}`,
      `/${prefix}${sha256Hex(event)}`,
      prefix.slice(0, -1),
    ];
    for (const key of keys) {
      await payloads.put(key, Buffer.from(event));
      const error = await rejection(resolveBody(pointerBody(pointerTo(payloads.bucket, key, event), 'ADD'), instance, payloads));
      expect(error.code, key).toBe('payload-refused');
      expect(error.message).toContain("is not under this instance's prefix");
    }
  });

  it('refuses a pointer over the offloaded-event limit before reading it, and takes one at the limit', async () => {
    const payloads = new MemoryPayloadStore();
    const get = vi.spyOn(payloads, 'get');
    const pad = JSON.stringify({ type: 'ADD', data: '' }).length;
    const largest = JSON.stringify({ type: 'ADD', data: 'x'.repeat(maxOffloadedEventBytes - pad) });
    expect(Buffer.byteLength(largest)).toBe(maxOffloadedEventBytes);
    const body = await offloadEvent(payloads, instance, largest, 'ADD');
    const over = pointerBody({ ...(pointerOf(body, instance) as PayloadPointer), bytes: maxOffloadedEventBytes + 1 }, 'ADD');

    const error = await rejection(resolveBody(over, instance, payloads));

    expect(error.code).toBe('payload-refused');
    expect(error.message).toContain(`it is ${maxOffloadedEventBytes + 1} bytes, over the ${maxOffloadedEventBytes}-byte limit`);
    expect(get).not.toHaveBeenCalled();
    expect((await resolveBody(body, instance, payloads)).body).toBe(largest);
    expect(maxOffloadedEventBytes).toBe(10 * 1024 * 1024);
  });

  it('says an event whose object is gone is missing, where it was, and to send it again', async () => {
    const { payloads, body, key } = await stored();
    await payloads.remove(key);

    const error = await rejection(resolveBody(body, instance, payloads));

    expect(error.code).toBe('payload-missing');
    expect(error.instanceKey).toBe(instance);
    expect(error.message).toBe(
      `The event for instance ${instance} points to s3://settle-payloads-test/${key}, which does not exist (event objects expire after 30 days). ` +
        'Send the event again.',
    );
  });

  it('refuses an object that is not the one the pointer names: same size and another hash, or another size', async () => {
    const same = JSON.stringify({ type: 'ADD', data: 'abc' });
    const sameSize = JSON.stringify({ type: 'ADD', data: 'abd' });
    expect(Buffer.byteLength(sameSize)).toBe(Buffer.byteLength(same));
    for (const replacement of [sameSize, `${same} `, same.slice(0, -1), '']) {
      const { payloads, body, key } = await stored(same);
      await payloads.put(key, Buffer.from(replacement));

      const error = await rejection(resolveBody(body, instance, payloads));

      expect(error.code, replacement).toBe('payload-corrupt');
      expect(error.instanceKey).toBe(instance);
      expect(error.message).toContain(`The event object ${key} of instance ${instance} is not the one that was written`);
      expect(error.message).toContain(`${Buffer.byteLength(replacement)} bytes (expected ${Buffer.byteLength(same)})`);
      expect(error.message).toMatch(/send the event again\.$/);
    }
  });

  it('tells the sender how to send a large event in every refusal', async () => {
    const { payloads, body } = await stored();
    const refusals = [
      await rejection(resolveBody(body, instance, undefined)),
      await rejection(resolveBody(body, instance, new MemoryPayloadStore('another'))),
      await rejection(resolveBody(body, 'blob/other', payloads)),
    ];
    for (const error of refusals) {
      expect(error.code).toBe('payload-refused');
      expect(error.message).toMatch(
        /Send large events with `settle send` or SettleClient, which put the body in the stack's payload bucket and send a pointer Settle accepts\.$/,
      );
    }
  });
});

describe('checkObject', () => {
  it('accepts the object written, and tells how to repair an altered snapshot', () => {
    const bytes = Buffer.from('snapshot bytes');
    const ref = { key: 'snapshots/blob/b1/v1-x.json.gz', bytes: bytes.byteLength, sha256: sha256Hex(bytes) };

    expect(() => checkObject(ref, bytes, 'blob/b1', 'snapshot')).not.toThrow();
    const error = thrown(() => checkObject(ref, Buffer.from('snapshot bytez'), 'blob/b1', 'snapshot'));
    expect(error.code).toBe('payload-corrupt');
    expect(error.message).toContain(
      'The snapshot object snapshots/blob/b1/v1-x.json.gz of instance blob/b1 is not the one that was written',
    );
    expect(error.message).toMatch(
      /restore the object \(or the item and its object from a backup\), then redrive the events from the DLQ\.$/,
    );
  });
});
