import { createHash, randomUUID } from 'node:crypto';
import { PermanentError } from './errors.ts';
import { payloadBucketDefinition } from './resources.ts';

/**
 * Large payloads through the payload bucket (docs/DESIGN.md, "Large payloads"): the object-storage port, the
 * keys objects get, and the claim check an event travels as when it is too large for SQS. Pure: no SDK here.
 */

/** Settle's object-storage port: the payload bucket. Adapters only move bytes. */
export interface PayloadStore {
  /** The bucket's name: a pointer naming any other is refused. */
  readonly bucket: string;
  put(key: string, body: Uint8Array): Promise<void>;
  /** The object's bytes, or `undefined` when there is no such object. Other failures throw a `RetryableError`. */
  get(key: string): Promise<Uint8Array | undefined>;
  /** Marks an object no item points to any more: the bucket's lifecycle rule removes it after a safe delay. */
  supersede(key: string): Promise<void>;
  /** Deletes an object nothing ever pointed to (the snapshot of a write that lost its race). */
  remove(key: string): Promise<void>;
}

/** An object in the payload bucket, as an item or a pointer names it: its key, its size and its SHA-256. */
export interface ObjectRef {
  readonly key: string;
  readonly bytes: number;
  /** Hex SHA-256 of the object's bytes: what is read back must match it. */
  readonly sha256: string;
}

/** A claim check: the body an event or a dead letter travels as when its payload is in the bucket. */
export interface PayloadPointer extends ObjectRef {
  readonly bucket: string;
}

/** The largest event a claim check may carry: the worker holds it in memory, then in the machine's context. */
export const maxOffloadedEventBytes = 10 * 1024 * 1024;

/** How large a pointer body may be; a larger body is an event, never a pointer. */
const maxPointerBytes = 4096;

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * The part of a key that names an instance: `<machine>/<instanceId>` with the id URI-encoded, so that any id the
 * instance key allows is one path segment. A group id that is no instance key gets a hash under `~invalid/`.
 */
export function instanceSegment(instanceKey: string): string {
  const slash = instanceKey.indexOf('/');
  if (slash > 0 && /^[a-z0-9-]+$/.test(instanceKey.slice(0, slash))) {
    const id = instanceKey.slice(slash + 1);
    // encodeURIComponent leaves dots: an id of '.' or '..' would be a path segment some servers resolve.
    return `${instanceKey.slice(0, slash)}/${id === '.' || id === '..' ? id.replaceAll('.', '%2E') : encodeURIComponent(id)}`;
  }
  return `~invalid/${sha256Hex(instanceKey).slice(0, 40)}`;
}

/** Where an instance's events may be: a pointer to anything else is refused. */
export function eventObjectPrefix(instanceKey: string): string {
  return `${payloadBucketDefinition.eventsPrefix}${instanceSegment(instanceKey)}/`;
}

/** An event's object: named by its content, so a retried send writes the same object. */
export function eventObjectKey(instanceKey: string, sha256: string): string {
  return `${eventObjectPrefix(instanceKey)}${sha256}`;
}

/** A dead letter's own body, when it and its reason would not fit the DLQ: named by the record, so a resend writes it again. */
export function letterObjectKey(groupId: string, messageId: string): string {
  return `${eventObjectPrefix(groupId)}letter-${sha256Hex(messageId).slice(0, 40)}`;
}

/** A snapshot's object: the instance, the item version that first saved it, and an id of this writer's own. */
export function snapshotObjectKey(instanceKey: string, version: number): string {
  return `${payloadBucketDefinition.snapshotsPrefix}${instanceSegment(instanceKey)}/v${version}-${randomUUID()}.json.gz`;
}

/**
 * Puts `body` in the bucket under the instance's event prefix and returns the pointer body to send instead:
 * `{"type":…,"settle":{"payload":{bucket,key,bytes,sha256}}}`. The type stays readable in queues and listings.
 */
export async function offloadEvent(payloads: PayloadStore, instanceKey: string, body: string, type: string | undefined): Promise<string> {
  const bytes = Buffer.from(body, 'utf8');
  const sha256 = sha256Hex(bytes);
  const key = eventObjectKey(instanceKey, sha256);
  await payloads.put(key, bytes);
  return pointerBody({ bucket: payloads.bucket, key, bytes: bytes.byteLength, sha256 }, type);
}

export function pointerBody(pointer: PayloadPointer, type: string | undefined): string {
  const { bucket, key, bytes, sha256 } = pointer;
  return JSON.stringify({ ...(type === undefined ? {} : { type }), settle: { payload: { bucket, key, bytes, sha256 } } });
}

/**
 * The pointer a message body carries, `undefined` for any other body. A body that says it is a pointer
 * (`settle.payload`) but is not a well-formed one is refused.
 */
export function pointerOf(body: string, instanceKey: string): PayloadPointer | undefined {
  if (body.length > maxPointerBytes || !body.includes('"payload"')) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  const payload = (parsed as { settle?: { payload?: unknown } } | null)?.settle?.payload;
  if (payload === undefined) return undefined;
  const { bucket, key, bytes, sha256 } = (payload ?? {}) as Record<string, unknown>;
  if (
    typeof bucket !== 'string' ||
    typeof key !== 'string' ||
    typeof bytes !== 'number' ||
    !Number.isSafeInteger(bytes) ||
    bytes < 0 ||
    typeof sha256 !== 'string' ||
    !/^[0-9a-f]{64}$/.test(sha256)
  ) {
    throw refused(instanceKey, 'its "settle.payload" is not {bucket, key, bytes, sha256}');
  }
  return { bucket, key, bytes, sha256 };
}

/**
 * The body a record stands for: itself, or for a claim check the object it points to, read from this stack's
 * bucket under the instance's own prefix and checked against the pointer's size and hash. A pointer to anything
 * else is refused: a pointer is no way to read arbitrary objects.
 */
export async function resolveBody(
  body: string,
  instanceKey: string,
  payloads: PayloadStore | undefined,
): Promise<{ body: string; offloaded: boolean }> {
  const pointer = pointerOf(body, instanceKey);
  if (!pointer) return { body, offloaded: false };
  if (!payloads) throw refused(instanceKey, 'this worker has no payload bucket (SETTLE_BUCKET is not set)');
  if (pointer.bucket !== payloads.bucket) {
    throw refused(instanceKey, `it names bucket '${pointer.bucket.slice(0, 64)}', not this stack's '${payloads.bucket}'`);
  }
  const prefix = eventObjectPrefix(instanceKey);
  if (!pointer.key.startsWith(prefix) || pointer.key.includes('/../')) {
    throw refused(instanceKey, `its key '${pointer.key.slice(0, 160)}' is not under this instance's prefix '${prefix}'`);
  }
  if (pointer.bytes > maxOffloadedEventBytes) {
    throw refused(instanceKey, `it is ${pointer.bytes} bytes, over the ${maxOffloadedEventBytes}-byte limit of an offloaded event`);
  }
  const object = await payloads.get(pointer.key);
  if (!object) {
    throw new PermanentError(
      'payload-missing',
      `The event for instance ${instanceKey} points to s3://${pointer.bucket}/${pointer.key}, which does not exist (event objects expire ` +
        `after ${payloadBucketDefinition.eventsExpireAfterDays} days). Send the event again.`,
      { instanceKey },
    );
  }
  checkObject(pointer, object, instanceKey, 'event');
  return { body: Buffer.from(object).toString('utf8'), offloaded: true };
}

/** Refuses an object whose size or hash is not what the pointer or item says: it was replaced or damaged. */
export function checkObject(ref: ObjectRef, object: Uint8Array, instanceKey: string, what: 'event' | 'snapshot'): void {
  if (object.byteLength === ref.bytes && sha256Hex(object) === ref.sha256) return;
  throw new PermanentError(
    'payload-corrupt',
    `The ${what} object ${ref.key} of instance ${instanceKey} is not the one that was written: ${object.byteLength} bytes ` +
      `(expected ${ref.bytes}) or another SHA-256. Objects in the payload bucket are written once and never changed: ` +
      (what === 'event'
        ? 'send the event again.'
        : 'restore the object (or the item and its object from a backup), then redrive the events from the DLQ.'),
    { instanceKey },
  );
}

function refused(instanceKey: string, why: string): PermanentError {
  return new PermanentError(
    'payload-refused',
    `The event for instance ${instanceKey} is a claim check that was refused: ${why}. Send large events with \`settle send\` or ` +
      "SettleClient, which put the body in the stack's payload bucket and send a pointer Settle accepts.",
    { instanceKey },
  );
}
