import { describe, expect, it } from 'vitest';
import { PermanentError } from '../../runtime/core/errors.ts';
import { idempotencyKeyOf, maxEventBytes, maxShownTypeLength, parseMessage, shownType } from '../../runtime/core/event.ts';

const key = 'approval/a1';

/** The error `parseMessage` rejects `body` with; fails the test if it accepts it. */
function rejectionOf(body: string, instanceKey = key): PermanentError {
  try {
    parseMessage(body, instanceKey);
  } catch (error) {
    if (error instanceof PermanentError) return error;
    throw error;
  }
  throw new Error(`parseMessage accepted ${body.slice(0, 80)}`);
}

/** A JSON event of exactly `bytes` bytes (UTF-8). */
function eventOfBytes(bytes: number): string {
  const head = '{"type":"SUBMIT","pad":"';
  const tail = '"}';
  return `${head}${'x'.repeat(bytes - head.length - tail.length)}${tail}`;
}

describe('parseMessage', () => {
  it('accepts a JSON object with a string type, and hands over every field of it', () => {
    const parsed = parseMessage('{"type":"APPROVE","role":"legal","by":"ann","nested":{"n":1}}', key);

    expect(parsed).toEqual({ kind: 'event', event: { type: 'APPROVE', role: 'legal', by: 'ann', nested: { n: 1 } } });
  });

  it('accepts a body of exactly 256 KiB and rejects one byte more as event-too-large, saying what to send instead', () => {
    const atLimit = eventOfBytes(maxEventBytes);
    const overLimit = eventOfBytes(maxEventBytes + 1);

    expect(maxEventBytes).toBe(262_144);
    expect(parseMessage(atLimit, key)).toMatchObject({ kind: 'event', event: { type: 'SUBMIT' } });
    const error = rejectionOf(overLimit);
    expect(error.code).toBe('event-too-large');
    expect(error.instanceKey).toBe(key);
    expect(error.message).toBe(
      `The event for instance ${key} is 262145 bytes, over the 262144-byte limit. Send a reference (an S3 key, an id) instead of the payload, or send it with \`settle send\` or SettleClient, which put large events in the stack's payload bucket.`,
    );
  });

  it('measures the size in UTF-8 bytes, not in characters', () => {
    // 140,000 characters of 'é' are 280,000 bytes: under the limit in characters, over it in bytes.
    const body = JSON.stringify({ type: 'NOTE', text: 'é'.repeat(140_000) });

    expect(body.length).toBeLessThan(maxEventBytes);
    expect(rejectionOf(body).message).toMatch(/is 280025 bytes, over the 262144-byte limit/);
  });

  it('rejects an oversized body before trying to parse it: too large wins over not JSON', () => {
    expect(rejectionOf('x'.repeat(maxEventBytes + 1)).code).toBe('event-too-large');
  });

  it("rejects a body that is not JSON as invalid-json, quoting the parser's complaint and an example, with the parser's error as cause", () => {
    const error = rejectionOf('{"type": APPROVE}');

    expect(error.code).toBe('invalid-json');
    expect(error.kind).toBe('permanent');
    expect(error.instanceKey).toBe(key);
    expect(error.message).toMatch(
      /^The message body for instance approval\/a1 is not JSON \(.*Unexpected token.*\)\. Send the event as a JSON object, e\.g\. \{"type":"APPROVE"\}\.$/,
    );
    expect(error.cause).toBeInstanceOf(SyntaxError);
  });

  it.each([
    ['[{"type":"APPROVE"}]', 'an array'],
    ['null', 'null'],
    ['42', 'a number'],
    ['"APPROVE"', 'a string'],
    ['true', 'a boolean'],
  ])('rejects %s, JSON but not an object, as invalid-event naming what it is (%s)', (body, got) => {
    const error = rejectionOf(body);

    expect(error.code).toBe('invalid-event');
    expect(error.instanceKey).toBe(key);
    expect(error.message).toBe(
      `The event for instance ${key} is ${got}, not a JSON object. Send an object with a string "type", e.g. {"type":"APPROVE"}.`,
    );
  });

  it.each([
    ['{"role":"legal"}', 'undefined'],
    ['{"type":42}', '42'],
    ['{"type":""}', '""'],
    ['{"type":null}', 'null'],
    ['{"type":["APPROVE"]}', '["APPROVE"]'],
  ])('rejects %s, an object without a non-empty string type, as invalid-event quoting the type it got', (body, got) => {
    const error = rejectionOf(body);

    expect(error.code).toBe('invalid-event');
    expect(error.instanceKey).toBe(key);
    expect(error.message).toBe(`The event for instance ${key} has no string "type" (got ${got}). Add one, e.g. {"type":"APPROVE", ...}.`);
  });

  it('reads a settle.wake body with a whole-number wakeAt as a wake-up', () => {
    expect(parseMessage('{"type":"settle.wake","wakeAt":1795428000000}', 'payment/p1')).toEqual({
      kind: 'wake',
      wakeAt: 1_795_428_000_000,
    });
    expect(parseMessage('{"type":"settle.wake","wakeAt":0}', 'payment/p1')).toEqual({ kind: 'wake', wakeAt: 0 });
  });

  it.each([
    ['missing', '{"type":"settle.wake"}'],
    ['a string', '{"type":"settle.wake","wakeAt":"1795428000000"}'],
    ['a fraction', '{"type":"settle.wake","wakeAt":1795428000000.5}'],
    ['beyond a safe integer', '{"type":"settle.wake","wakeAt":9007199254740993}'],
  ])('rejects a settle.wake whose wakeAt is %s as invalid-event: wake-ups come from the sweeper', (_case, body) => {
    const error = rejectionOf(body, 'payment/p1');

    expect(error.code).toBe('invalid-event');
    expect(error.instanceKey).toBe('payment/p1');
    expect(error.message).toBe(
      `The settle.wake event for instance payment/p1 has no whole-number "wakeAt". Wake-ups are sent by Settle's sweeper; do not send them by hand.`,
    );
  });

  it.each([
    ['xstate.init', 'xstate.'],
    ['xstate.done.actor.0.counter.counting', 'xstate.'],
    ['settle.redrive', 'settle.'],
  ])('rejects the reserved type %s as reserved-type, naming the prefix', (type, prefix) => {
    const error = rejectionOf(JSON.stringify({ type }));

    expect(error.code).toBe('reserved-type');
    expect(error.instanceKey).toBe(key);
    expect(error.message).toBe(
      `Event type '${type}' for instance ${key} starts with the reserved prefix '${prefix}': only the runtime may send such events. Rename the event.`,
    );
  });

  it('accepts types that only contain a reserved word elsewhere than at the start', () => {
    for (const type of ['settle', 'xstate', 'resettle.later', 'APPROVE.xstate.', 'Settle.now']) {
      expect(parseMessage(JSON.stringify({ type }), key)).toEqual({ kind: 'event', event: { type } });
    }
  });

  it('rejects an event that sets the reserved field "settle" as invalid-event: the idempotency key cannot be forged', () => {
    const error = rejectionOf('{"type":"PAY","settle":{"idempotencyKey":"payment/p1#1"}}');

    expect(error.code).toBe('invalid-event');
    expect(error.instanceKey).toBe(key);
    expect(error.message).toBe(
      `The event 'PAY' for instance ${key} sets the field "settle", which Settle fills in itself (the idempotency key). Remove it.`,
    );
  });
});

describe('shownType', () => {
  it('shows a type of up to 128 characters whole, and cuts a longer one to 128 with an ellipsis', () => {
    const longest = 'A'.repeat(maxShownTypeLength);

    expect(maxShownTypeLength).toBe(128);
    expect(shownType('APPROVE')).toBe('APPROVE');
    expect(shownType(longest)).toBe(longest);
    expect(shownType(`${longest}BC`)).toBe(`${longest}…`);
  });

  it('keeps a reason about a huge reserved type short', () => {
    const type = `xstate.${'x'.repeat(200_000)}`;

    const error = rejectionOf(JSON.stringify({ type }));

    expect(error.code).toBe('reserved-type');
    expect(error.message).toBe(
      `Event type '${type.slice(0, 128)}…' for instance ${key} starts with the reserved prefix 'xstate.': only the runtime may send such events. Rename the event.`,
    );
  });
});

describe('idempotencyKeyOf', () => {
  it('returns the key Settle attached to a delivered event', () => {
    const event = {
      type: 'PAY',
      settle: { instanceKey: 'payment/p1', sequenceNumber: '18000000000000000001', idempotencyKey: 'payment/p1#18000000000000000001' },
    };

    expect(idempotencyKeyOf(event)).toBe('payment/p1#18000000000000000001');
  });

  it('throws for an event that did not come through the queue, naming it and where to take the key from', () => {
    expect(() => idempotencyKeyOf({ type: 'xstate.done.actor.charge' })).toThrow(
      new Error(
        "Event 'xstate.done.actor.charge' carries no Settle metadata: compute the idempotency key from an event that arrived " +
          'through the queue (in invoke input, use the event that entered the state).',
      ),
    );
  });
});
