import type { EventFromLogic } from 'xstate';
import { PermanentError, RequestError } from '../runtime/core/errors.ts';
import { maxEventBytes, parseMessage } from '../runtime/core/event.ts';
import { parseInstanceKey, type InstanceKey } from '../runtime/core/instance-key.ts';
import { acceptedEventTypes, acceptsEventType } from '../runtime/core/machine-events.ts';
import { checkEventSchema, definitionOf, type MachineRegistry } from '../runtime/core/registry.ts';

/** The names of a registry's machines. */
export type MachineName<R extends MachineRegistry> = Extract<keyof R, string>;

type WithoutMeta<E> = E extends unknown ? Omit<E, 'settle'> : never;
/** `any` (an untyped registry's machines) takes any JSON object with a string `type`. */
type Declared<E> = 0 extends 1 & E ? { readonly type: string; readonly [field: string]: unknown } : WithoutMeta<E>;

/**
 * The events machine `M` of registry `R` declares (`setup({ types: { events } })`), as a sender writes them:
 * an event of another shape does not compile. Without a typed registry any `{ type }` object will do.
 */
export type EventOf<R extends MachineRegistry, M extends keyof R> = Declared<EventFromLogic<R[M]['machine']>>;

/**
 * Checks an instance key and an event before anything is sent, with the worker's own rules and codes, so that
 * nothing the worker would refuse reaches the queue: the key's form, the body (JSON object, string `type`, not
 * reserved, within SQS's size), and, when the registry is known, the machine, its `validateEvent`, and that
 * some state of the machine takes that event type at all. Returns the key, the body to send and its type.
 */
export function checkOutgoing(
  key: string,
  event: unknown,
  registry: MachineRegistry | undefined,
  maxBytes: number = maxEventBytes,
): { readonly key: InstanceKey; readonly body: string; readonly type: string } {
  const instance = instanceKeyOf(key);
  // SQS refuses a body with characters outside #x9 | #xA | #xD | #x20–#xD7FF | #xE000–#xFFFD | #x10000–#x10FFFF. Of those
  // JSON.stringify escapes the control characters, not U+FFFE and U+FFFF (and fauxqs refuses surrogate pairs too); they
  // can only be inside JSON strings, so escaping them sends the same event.
  const body = (JSON.stringify(event) ?? '').replace(sqsRefuses, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
  const message = parseMessage(body, instance.key, maxBytes);
  if (message.kind === 'wake') {
    throw new PermanentError(
      'reserved-type',
      `Event type 'settle.wake' for instance ${instance.key} is Settle's own: only the sweeper sends it.`,
      {
        instanceKey: instance.key,
      },
    );
  }
  if (registry) {
    const definition = definitionOf(registry, instance);
    const accepted = acceptedEventTypes(definition.machine);
    if (!acceptsEventType(accepted, message.event.type)) {
      throw new RequestError(
        'unknown-event',
        `No state of machine '${instance.machine}' takes an event of type '${message.event.type.slice(0, 128)}', so ${instance.key} ` +
          `would only record it as ignored. It takes: ${accepted.join(', ') || 'no events'}.`,
      );
    }
    checkEventSchema(definition, instance, message.event);
  }
  return { key: instance, body, type: message.event.type };
}

/** The UTF-16 code units JSON.stringify leaves that SQS (or fauxqs, for either half of a surrogate pair) refuses in a body. */
const sqsRefuses = /[\uD800-\uDFFF\uFFFE\uFFFF]/g;

/** Parses `<machine>/<instanceId>`, with a message that speaks to whoever typed it. */
export function instanceKeyOf(key: string): InstanceKey {
  try {
    return parseInstanceKey(key);
  } catch {
    throw new PermanentError(
      'invalid-instance-key',
      `'${key.slice(0, 160)}' is not an instance key: write <machine>/<instanceId>, e.g. counter/c1 ` +
        "(machine: lowercase letters, digits and '-'; at most 128 characters; letters, digits and punctuation only).",
    );
  }
}
