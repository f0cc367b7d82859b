import type { EventObject } from 'xstate';
import { PermanentError } from './errors.ts';
import { wakeEventType } from './resources.ts';

/** What the runtime adds to every event it delivers, under the reserved field `settle`. */
export interface SettleEventMeta {
  /** `<machine>/<instanceId>` */
  readonly instanceKey: string;
  /** The SQS `SequenceNumber` of the message that carried the event (a decimal string). */
  readonly sequenceNumber: string;
  /**
   * `<instanceKey>#<sequenceNumber>`: the same on every redelivery of the same message. Pass it to
   * side effects (payment, e-mail) so that a re-run after a crash does the work only once.
   */
  readonly idempotencyKey: string;
}

/** An event as a machine receives it from Settle. */
export type DeliveredEvent<TEvent extends EventObject = EventObject> = TEvent & { readonly settle?: SettleEventMeta };

/** The idempotency key of the event that led here; throws if the event did not come through Settle. */
export function idempotencyKeyOf(event: EventObject): string {
  const meta = (event as DeliveredEvent).settle;
  if (!meta) {
    throw new Error(
      `Event '${event.type}' carries no Settle metadata: compute the idempotency key from an event that arrived ` +
        'through the queue (in invoke input, use the event that entered the state).',
    );
  }
  return meta.idempotencyKey;
}

/** How many characters of an event type history, logs and reasons keep: a type is free text up to 256 KiB. */
export const maxShownTypeLength = 128;

/** An event type as history, logs and error messages show it: cut to {@link maxShownTypeLength} characters. */
export function shownType(type: string): string {
  return type.length > maxShownTypeLength ? `${type.slice(0, maxShownTypeLength)}…` : type;
}

export type ParsedMessage =
  | { readonly kind: 'event'; readonly event: EventObject & Record<string, unknown> }
  | { readonly kind: 'wake'; readonly wakeAt: number };

const reservedPrefixes = ['xstate.', 'settle.'];
const reservedField = 'settle';
/** SQS's own limit; a larger body cannot arrive through SQS, but a redrive tool or a test could hand one over. */
export const maxEventBytes = 262_144;

/**
 * Validates a message body at the boundary: a JSON object with a string `type` that is not reserved, of at most
 * `maxBytes` (SQS's limit; an event read through a claim check may be larger, see payloads.ts).
 */
export function parseMessage(body: string, instanceKey: string, maxBytes: number = maxEventBytes): ParsedMessage {
  const where = `for instance ${instanceKey}`;
  const size = Buffer.byteLength(body, 'utf8');
  if (size > maxBytes) {
    throw new PermanentError(
      'event-too-large',
      `The event ${where} is ${size} bytes, over the ${maxBytes}-byte limit. Send a reference (an S3 key, an id) instead of the payload` +
        (maxBytes === maxEventBytes
          ? ", or send it with `settle send` or SettleClient, which put large events in the stack's payload bucket."
          : '.'),
      { instanceKey },
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (error) {
    throw new PermanentError(
      'invalid-json',
      `The message body ${where} is not JSON (${(error as Error).message}). Send the event as a JSON object, e.g. {"type":"APPROVE"}.`,
      { instanceKey, cause: error },
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    const got = Array.isArray(value) ? 'an array' : value === null ? 'null' : `a ${typeof value}`;
    throw new PermanentError(
      'invalid-event',
      `The event ${where} is ${got}, not a JSON object. Send an object with a string "type", e.g. {"type":"APPROVE"}.`,
      { instanceKey },
    );
  }
  const record = value as Record<string, unknown>;
  const type = record.type;
  if (typeof type !== 'string' || type.length === 0) {
    throw new PermanentError(
      'invalid-event',
      `The event ${where} has no string "type" (got ${JSON.stringify(type) ?? 'undefined'}). Add one, e.g. {"type":"APPROVE", ...}.`,
      { instanceKey },
    );
  }
  if (type === wakeEventType) {
    const wakeAt = record.wakeAt;
    if (typeof wakeAt !== 'number' || !Number.isSafeInteger(wakeAt)) {
      throw new PermanentError(
        'invalid-event',
        `The ${wakeEventType} event ${where} has no whole-number "wakeAt". Wake-ups are sent by Settle's sweeper; do not send them by hand.`,
        { instanceKey },
      );
    }
    return { kind: 'wake', wakeAt };
  }
  const prefix = reservedPrefixes.find((p) => type.startsWith(p));
  if (prefix) {
    throw new PermanentError(
      'reserved-type',
      `Event type '${shownType(type)}' ${where} starts with the reserved prefix '${prefix}': only the runtime may send such events. Rename the event.`,
      { instanceKey },
    );
  }
  if (reservedField in record) {
    throw new PermanentError(
      'invalid-event',
      `The event '${shownType(type)}' ${where} sets the field "${reservedField}", which Settle fills in itself (the idempotency key). Remove it.`,
      { instanceKey },
    );
  }
  return { kind: 'event', event: record as EventObject & Record<string, unknown> };
}
