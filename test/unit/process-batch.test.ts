import { afterEach, describe, expect, it, vi } from 'vitest';
import { assign, fromPromise, raise, setup } from 'xstate';
import type { DeadLetter, DeadLetterQueue } from '../../runtime/core/dead-letters.ts';
import { RetryableError, VersionConflictError } from '../../runtime/core/errors.ts';
import type { Logger } from '../../runtime/core/logger.ts';
import { maxHistoryReasonLength, processBatch, type WorkerCore } from '../../runtime/core/process-batch.ts';
import { defineRegistry, type InstanceInput, type PersistedSnapshot } from '../../runtime/core/registry.ts';
import { wakeShardOf } from '../../runtime/core/timers.ts';
import { registry as examples } from '../../machines/index.ts';
import { budget, makeCore as makeSupportCore, stored } from '../support/core.ts';
import { brokenBellMachine, faultyMachine } from '../support/faulty.ts';
import { fifoRecord, sequence } from '../support/records.ts';
import { scriptedStore } from '../support/scripted-store.ts';

const day = 24 * 3600 * 1000;
const start = Date.parse('2026-11-23T10:00:00Z');

/** What the `busy` machine's invoked steps finished. */
const finishedWork: string[] = [];

const machines = defineRegistry({
  ...examples,
  faulty: { version: 1, machine: faultyMachine },
  // Keeps the input it was created with.
  greeter: {
    version: 1,
    machine: setup({ types: { input: {} as InstanceInput, context: {} as InstanceInput & { hellos: number } } }).createMachine({
      id: 'greeter',
      context: ({ input }) => ({ ...input, hellos: 0 }),
      initial: 'idle',
      states: { idle: { tags: ['resolve'], on: { HELLO: { actions: assign({ hellos: ({ context }) => context.hellos + 1 }) } } } },
    }),
  },
  // ARM schedules forty days first, then one day; DISARM cancels both.
  timed: {
    version: 1,
    machine: setup({ delays: { fortyDays: 40 * day, oneDay: day } }).createMachine({
      id: 'timed',
      initial: 'idle',
      states: {
        idle: { tags: ['resolve'], on: { ARM: 'armed' } },
        armed: { tags: ['resolve'], after: { fortyDays: 'idle', oneDay: 'idle' }, on: { DISARM: 'idle' } },
      },
    }),
  },
  // STEP settles after an invoked wait of 40 ms.
  slow: {
    version: 1,
    machine: setup({ actors: { pause: fromPromise(() => new Promise<void>((resolve) => setTimeout(resolve, 40))) } }).createMachine({
      id: 'slow',
      initial: 'idle',
      states: { idle: { tags: ['resolve'], on: { STEP: 'stepping' } }, stepping: { invoke: { src: 'pause', onDone: 'idle' } } },
    }),
  },
  // ARM rests with a one-day timer whose action throws and a two-day timer that works.
  bell: { version: 1, machine: brokenBellMachine },
  // Rests in `working` while an invoked step (100 ms) runs; its onDone calls `finished`.
  busy: {
    version: 1,
    machine: setup({
      actors: { step: fromPromise(() => new Promise<void>((resolve) => setTimeout(resolve, 100))) },
      actions: { finished: () => void finishedWork.push('step') },
    }).createMachine({
      id: 'busy',
      initial: 'idle',
      states: {
        idle: { tags: ['resolve'], on: { WORK: 'working' } },
        working: { tags: ['resolve'], invoke: { src: 'step', onDone: { target: 'idle', actions: 'finished' } } },
      },
    }),
  },
  // Keeps the settle metadata of every event it takes.
  spy: {
    version: 1,
    machine: setup({ types: { context: {} as { seen: unknown[] } } }).createMachine({
      id: 'spy',
      context: { seen: [] },
      initial: 'idle',
      states: {
        idle: {
          tags: ['resolve'],
          on: { LOOK: { actions: assign({ seen: ({ context, event }) => [...context.seen, (event as { settle?: unknown }).settle] }) } },
        },
      },
    }),
  },
  // LATER schedules, a day later, an event carrying the payload it was given.
  heavy: {
    version: 1,
    machine: setup({ types: { events: {} as { type: 'LATER'; data: string } | { type: 'OK' } | { type: 'DUE' } } }).createMachine({
      id: 'heavy',
      context: { oks: 0 },
      initial: 'idle',
      states: {
        idle: {
          tags: ['resolve'],
          on: {
            LATER: { actions: raise(({ event }) => ({ type: 'DUE', data: (event as { data: string }).data }), { delay: day }) },
            OK: { actions: assign({ oks: ({ context }) => context.oks + 1 }) },
          },
        },
      },
    }),
  },
});

function makeCore(overrides: Partial<WorkerCore> = {}) {
  return makeSupportCore(machines, { now: () => start, ...overrides });
}

/** A logger that keeps what it is told. */
function recordingLogger(): Logger & { warnings: { message: string; attributes: Record<string, unknown> | undefined }[] } {
  const warnings: { message: string; attributes: Record<string, unknown> | undefined }[] = [];
  return {
    warnings,
    info: () => undefined,
    warn: (message, details) => void warnings.push({ message, attributes: details as Record<string, unknown> | undefined }),
    error: () => undefined,
  };
}

/** A dead-letter queue over `inner` that refuses the n-th letter (counted from 1) and every one after it while `down`. */
function refusingQueue(inner: DeadLetterQueue, refuseFrom: number) {
  let calls = 0;
  const state = { down: true };
  const queue: DeadLetterQueue = {
    send: async (letter: DeadLetter) => {
      calls += 1;
      if (state.down && calls >= refuseFrom) throw new RetryableError('dead-letter-unavailable', 'the DLQ is down');
      await inner.send(letter);
    },
  };
  return { queue, state };
}

afterEach(() => {
  vi.useRealTimers();
});

const ids = (response: { batchItemFailures: { itemIdentifier: string }[] }) =>
  response.batchItemFailures.map((failure) => failure.itemIdentifier);

describe('processBatch: version conflicts', () => {
  it('re-reads after each conflict, at most conflictRetries (2) times, then hands the group back to SQS in order', async () => {
    // Prepare
    const logger = recordingLogger();
    const { core, store: memory, deadLetters } = makeCore({ logger });
    const { store, calls } = scriptedStore(memory, { write: () => new VersionConflictError('counter/v1', undefined) });
    const records = [fifoRecord('counter/v1', sequence(1), { type: 'COUNT' }), fifoRecord('counter/v1', sequence(2), { type: 'COUNT' })];

    // Act
    const response = await processBatch(records, { ...core, store }, budget());

    // Assess
    expect(ids(response)).toEqual([records[0]?.messageId, records[1]?.messageId]);
    expect(calls).toEqual({ read: 3, write: 3 });
    expect(deadLetters.letters).toEqual([]);
    expect(await memory.read('counter/v1')).toBeUndefined();
    expect(logger.warnings).toEqual([
      {
        message: 'The instance could not be read or saved; its records are retried or, on their last receive, dead-lettered',
        attributes: {
          instanceKey: 'counter/v1',
          error: { name: 'VersionConflictError', message: expect.stringContaining('Instance counter/v1 was saved by another worker') },
        },
      },
    ]);
  });

  it.each([
    [0, 1],
    [4, 5],
  ])('with conflictRetries %i writes %i times before giving the group back', async (conflictRetries, writes) => {
    const { core, store: memory } = makeCore({ conflictRetries });
    const { store, calls } = scriptedStore(memory, { write: () => new VersionConflictError('counter/v2', undefined) });
    const record = fifoRecord('counter/v2', sequence(1), { type: 'COUNT' });

    const response = await processBatch([record], { ...core, store }, budget());

    expect(ids(response)).toEqual([record.messageId]);
    expect(calls.write).toBe(writes);
  });

  it('saves the group when a re-read after conflicts finally wins', async () => {
    const { core, store: memory } = makeCore();
    const { store, calls } = scriptedStore(memory, {
      write: (call) => (call <= 2 ? new VersionConflictError('counter/v3', undefined) : undefined),
    });

    const response = await processBatch([fifoRecord('counter/v3', sequence(1), { type: 'COUNT' })], { ...core, store }, budget());

    expect(response.batchItemFailures).toEqual([]);
    expect(calls.write).toBe(3);
    expect((await stored(memory, 'counter/v3')).snapshot.context).toEqual({ count: 2 });
  });

  it('dead-letters a record on its last receive with retries-exhausted (version-conflict), and retries the others', async () => {
    // Prepare
    const { core, store: memory, deadLetters } = makeCore();
    const { store, calls } = scriptedStore(memory, { write: () => new VersionConflictError('counter/v4', undefined) });
    const last = fifoRecord('counter/v4', sequence(1), { type: 'COUNT' }, { receiveCount: 5 });
    const early = fifoRecord('counter/v4', sequence(2), { type: 'COUNT' }, { receiveCount: 2 });

    // Act
    const response = await processBatch([last, early], { ...core, store }, budget());

    // Assess
    expect(ids(response)).toEqual([early.messageId]);
    expect(deadLetters.letters.map((letter) => [letter.messageId, letter.error.code])).toEqual([[last.messageId, 'retries-exhausted']]);
    expect(deadLetters.letters[0]?.error.message).toMatch(
      /^Instance counter\/v4 was saved by another worker after it was read at version none; .* Gave up after 5 receives \(version-conflict\)\.$/,
    );
    expect(deadLetters.letters[0]?.error.instanceKey).toBe('counter/v4');
    expect(calls.read).toBe(4); // three attempts, and the read-back before dead-lettering
  });
});

describe('processBatch: the dead-letter queue failing mid-group', () => {
  it('acknowledges the letters sent before the failure, and retries from the refused one on, sending it later without applying it', async () => {
    // Prepare: the DLQ takes the first letter and refuses the second.
    const logger = recordingLogger();
    const { core, store, deadLetters } = makeCore({ logger });
    const sent: string[] = [];
    const { queue, state } = refusingQueue(deadLetters, 2);
    const records = [
      fifoRecord('counter/m1', sequence(1), { type: 'COUNT' }),
      fifoRecord('counter/m1', sequence(2), 'first poison'),
      fifoRecord('counter/m1', sequence(3), { type: 'COUNT' }),
      fifoRecord('counter/m1', sequence(4), '{"no":"type"}'),
      fifoRecord('counter/m1', sequence(5), { type: 'COUNT' }),
    ];
    const [, firstPoison, , secondPoison, lastGood] = records;
    const withQueue = { ...core, deadLetters: queue, onDeadLettered: (letter: DeadLetter) => void sent.push(letter.messageId) };

    // Act
    const first = await processBatch(records, withQueue, budget());
    const pending = await stored(store, 'counter/m1');
    state.down = false;
    const again = await processBatch(records.slice(3), withQueue, budget());

    // Assess
    expect(ids(first)).toEqual([secondPoison?.messageId, lastGood?.messageId]);
    expect(pending.letters.map((letter) => [letter.messageId, letter.code])).toEqual([[secondPoison?.messageId, 'invalid-event']]);
    expect(pending.snapshot.context).toEqual({ count: 6 });
    expect(pending.version).toBe(2); // the group's write, then the one that forgot the letter sent
    expect(logger.warnings).toEqual([
      {
        message: 'The dead-letter queue refused a letter; its record is retried',
        attributes: { messageId: secondPoison?.messageId, error: { name: 'RetryableError', message: 'the DLQ is down' } },
      },
    ]);
    expect(again.batchItemFailures).toEqual([]);
    expect(sent).toEqual([firstPoison?.messageId, secondPoison?.messageId]);
    expect(deadLetters.letters.map((letter) => letter.error.code)).toEqual(['invalid-json', 'invalid-event']);
    const item = await stored(store, 'counter/m1');
    expect(item.letters).toEqual([]);
    expect(item.snapshot.context).toEqual({ count: 6 });
  });

  it('retries a dead-lettered record whose letter could not be marked as sent, except on its last receive', async () => {
    // Prepare: the second write (the one that forgets sent letters) fails.
    const logger = recordingLogger();
    const { core, store: memory, deadLetters } = makeCore({ logger });
    const { store } = scriptedStore(memory, {
      write: (call) => (call === 2 ? new RetryableError('storage-unavailable', 'throttled') : undefined),
    });
    const good = fifoRecord('counter/f1', sequence(1), { type: 'COUNT' }, { receiveCount: 5 });
    const last = fifoRecord('counter/f1', sequence(2), 'poison', { receiveCount: 5 });
    const early = fifoRecord('counter/f1', sequence(3), 'poison', { receiveCount: 4 });

    // Act
    const response = await processBatch([good, last, early], { ...core, store }, budget());

    // Assess
    expect(ids(response)).toEqual([early.messageId]);
    expect(deadLetters.letters.map((letter) => letter.messageId)).toEqual([last.messageId, early.messageId]);
    expect((await stored(memory, 'counter/f1')).letters.map((letter) => letter.messageId)).toEqual([last.messageId, early.messageId]);
    expect(logger.warnings).toEqual([
      {
        message: 'Dead letters were sent but could not be marked as sent; their records are retried',
        attributes: { instanceKey: 'counter/f1', error: { name: 'RetryableError', message: 'throttled' } },
      },
    ]);
  });
});

describe('processBatch: letters saved with the instance', () => {
  /** An instance whose letter for `poison` is saved but was never sent (the DLQ was down), at `start`. */
  async function withPendingLetter(pk: string) {
    const { core, store, deadLetters } = makeCore();
    const down = refusingQueue(deadLetters, 1);
    const poison = fifoRecord(pk, sequence(2), 'poison');
    await processBatch([fifoRecord(pk, sequence(1), { type: 'COUNT' }), poison], { ...core, deadLetters: down.queue }, budget());
    return { core, store, deadLetters, poison };
  }

  it('sends a saved letter for a redelivered record while its record can still come back', async () => {
    const { core, store, deadLetters, poison } = await withPendingLetter('counter/l1');
    const writesWhileDown = store.calls.write; // nothing was sent, so nothing to forget

    const response = await processBatch([poison], { ...core, now: () => start + 4 * day - 1 }, budget());

    expect(response.batchItemFailures).toEqual([]);
    expect(deadLetters.letters.map((letter) => [letter.messageId, letter.error.code, letter.error.instanceKey])).toEqual([
      [poison.messageId, 'invalid-json', 'counter/l1'],
    ]);
    expect((await stored(store, 'counter/l1')).letters).toEqual([]);
    expect(writesWhileDown).toBe(1);
  });

  it('keeps the first 2,048 characters of a reason it has yet to send', async () => {
    // Prepare
    const { core, store, deadLetters } = makeCore({
      registry: defineRegistry({
        ...machines,
        counter: { ...machines.counter, validateEvent: (event) => (event.type === 'LONG' ? 'x'.repeat(5000) : undefined) },
      }),
    });
    const down = refusingQueue(deadLetters, 1);
    const long = fifoRecord('counter/l4', sequence(2), { type: 'LONG' });
    await processBatch([fifoRecord('counter/l4', sequence(1), { type: 'COUNT' }), long], { ...core, deadLetters: down.queue }, budget());
    const pending = await stored(store, 'counter/l4');
    down.state.down = false;

    // Act
    await processBatch([long], { ...core, deadLetters: down.queue }, budget());

    // Assess
    expect(pending.letters.map((letter) => letter.reason.length)).toEqual([2048]);
    expect(deadLetters.letters[0]?.error.message).toBe(pending.letters[0]?.reason);
    expect(deadLetters.letters[0]?.error.code).toBe('schema-violation');
  });

  it('forgets, without sending, a saved letter older than the events queue retention', async () => {
    const { core, store, deadLetters, poison } = await withPendingLetter('counter/l2');
    const later = { ...core, now: () => start + 4 * day };

    const redelivered = await processBatch([poison], later, budget());
    const next = await processBatch([fifoRecord('counter/l2', sequence(3), { type: 'COUNT' })], later, budget());

    expect(redelivered.batchItemFailures).toEqual([]);
    expect(next.batchItemFailures).toEqual([]);
    expect(deadLetters.letters).toEqual([]);
    expect((await stored(store, 'counter/l2')).letters).toEqual([]);
  });

  it('applies a new record, and sends no saved letter, when it reuses the message id of a pending letter', async () => {
    const { core, store, deadLetters, poison } = await withPendingLetter('counter/l5');

    await processBatch([fifoRecord('counter/l5', sequence(3), { type: 'COUNT' }, { messageId: poison.messageId })], core, budget());

    expect(deadLetters.letters).toEqual([]);
    expect((await stored(store, 'counter/l5')).snapshot.context).toEqual({ count: 4 });
  });

  it('never sends a saved letter for a record with another message id', async () => {
    const { core, deadLetters, poison } = await withPendingLetter('counter/l3');

    await processBatch([fifoRecord('counter/l3', sequence(2), 'poison', { messageId: `${poison.messageId}-other` })], core, budget());

    expect(deadLetters.letters).toEqual([]);
  });
});

describe('processBatch: the last receive', () => {
  it('says the event may already be applied when the instance cannot be read back either', async () => {
    const { core, store: memory, deadLetters } = makeCore();
    const { store } = scriptedStore(memory, { read: () => new RetryableError('storage-unavailable', 'DynamoDB is unreachable.') });
    const record = fifoRecord('counter/r1', sequence(1), { type: 'COUNT' }, { receiveCount: 5 });

    const response = await processBatch([record], { ...core, store }, budget());

    expect(response.batchItemFailures).toEqual([]);
    expect(deadLetters.letters.map((letter) => letter.error.code)).toEqual(['retries-exhausted']);
    expect(deadLetters.letters[0]?.error.message).toBe(
      'DynamoDB is unreachable. Gave up after 5 receives (storage-unavailable). The instance could not be read back either, so the event may ' +
        "already be applied: compare its settle-sequence-number with the instance's lastSeq before redriving it.",
    );
    expect(deadLetters.letters[0]?.error.instanceKey).toBe('counter/r1');
  });

  it('names an error that is not Settle own by its name', async () => {
    const { core, store: memory, deadLetters } = makeCore();
    const { store } = scriptedStore(memory, { read: (call) => (call === 1 ? new TypeError('socket closed') : undefined) });

    await processBatch([fifoRecord('counter/r2', sequence(1), { type: 'COUNT' }, { receiveCount: 6 })], { ...core, store }, budget());

    expect(deadLetters.letters[0]?.error.message).toBe('socket closed Gave up after 6 receives (TypeError).');
  });

  it('does not read the instance back when no record is on its last receive', async () => {
    const { core, store: memory } = makeCore();
    const { store, calls } = scriptedStore(memory, { read: () => new RetryableError('storage-unavailable', 'down') });
    const records = [fifoRecord('counter/r3', sequence(1), { type: 'COUNT' }, { receiveCount: 4 })];

    const response = await processBatch(records, { ...core, store }, budget());

    expect(ids(response)).toEqual([records[0]?.messageId]);
    expect(calls.read).toBe(1);
  });

  it('sends the letter a landed write decided, with its own reason, and acknowledges what that write saved', async () => {
    // Prepare: the write lands but its response is lost, on the last receive.
    const { core, store: memory, deadLetters } = makeCore();
    const { store } = scriptedStore(memory, {
      lands: (call) => (call === 1 ? new RetryableError('storage-unavailable', 'socket hang up') : undefined),
    });
    const poison = fifoRecord('counter/r4', sequence(1), 'poison', { receiveCount: 5 });
    const good = fifoRecord('counter/r4', sequence(2), { type: 'COUNT' }, { receiveCount: 5 });

    // Act
    const response = await processBatch([poison, good], { ...core, store }, budget());

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(deadLetters.letters.map((letter) => [letter.messageId, letter.error.code, letter.error.instanceKey])).toEqual([
      [poison.messageId, 'invalid-json', 'counter/r4'],
    ]);
    expect(deadLetters.letters[0]?.error.message).toMatch(/^The message body for instance counter\/r4 is not JSON/);
    expect((await stored(memory, 'counter/r4')).snapshot.context).toEqual({ count: 2 });
  });
});

describe('processBatch: what the item records', () => {
  it('keeps createdAt, moves updatedAt and counts the version up across writes', async () => {
    // Prepare
    let now = start;
    const { core, store } = makeCore({ now: () => now });
    const count = (n: number) => processBatch([fifoRecord('counter/t1', sequence(n), { type: 'COUNT' })], core, budget());

    // Act
    await count(1);
    const first = await stored(store, 'counter/t1');
    now += 90_000;
    await count(2);
    const second = await stored(store, 'counter/t1');

    // Assess
    expect([first.createdAt, first.updatedAt, first.version]).toEqual(['2026-11-23T10:00:00.000Z', '2026-11-23T10:00:00.000Z', 1]);
    expect([second.createdAt, second.updatedAt, second.version]).toEqual(['2026-11-23T10:00:00.000Z', '2026-11-23T10:01:30.000Z', 2]);
    expect(second.history.map((entry) => entry.at)).toEqual(['2026-11-23T10:00:00.000Z', '2026-11-23T10:01:30.000Z']);
  });

  it('gives a new instance { instanceId, instanceKey } as its input', async () => {
    const { core, store } = makeCore();

    await processBatch([fifoRecord('greeter/ana-42', sequence(1), { type: 'HELLO' })], core, budget());

    const item = await stored(store, 'greeter/ana-42');
    expect(item.snapshot.context).toEqual({ instanceId: 'ana-42', instanceKey: 'greeter/ana-42', hellos: 1 });
    expect(item).toMatchObject({
      pk: 'greeter/ana-42',
      machine: 'greeter',
      machineVersion: 1,
      status: 'active',
      value: 'idle',
      states: ['idle'],
      tags: ['resolve'],
    });
  });

  it('sets wakeAt to the earliest timer, not the first scheduled: a 1-day timer does not wait for a 40-day one', async () => {
    const { core, store } = makeCore();

    await processBatch([fifoRecord('timed/w1', sequence(1), { type: 'ARM' })], core, budget());
    const armed = await stored(store, 'timed/w1');
    const due = await store.findDue(wakeShardOf('timed/w1', 8), start + day, 10);
    await processBatch([fifoRecord('timed/w1', sequence(2), { type: 'DISARM' })], core, budget());
    const disarmed = await stored(store, 'timed/w1');

    expect(armed.wakeAt).toBe(start + day);
    expect(armed.wakeShard).toBe(wakeShardOf('timed/w1', 8));
    expect(due).toEqual([{ pk: 'timed/w1', wakeAt: start + day }]);
    expect(disarmed.timers).toEqual([]);
    expect(disarmed.wakeAt).toBeUndefined();
    expect(disarmed.wakeShard).toBeUndefined();
  });

  it('spreads instances over the configured number of wake shards', async () => {
    const { core, store } = makeCore({ wakeShards: 3 });

    await processBatch([fifoRecord('timed/w2', sequence(1), { type: 'ARM' })], core, budget());

    expect((await stored(store, 'timed/w2')).wakeShard).toBe(wakeShardOf('timed/w2', 3));
  });

  it('records a dead-lettered body in history as (not JSON), (no type) or its type cut to 128 characters', async () => {
    // Prepare
    const { core, store } = makeCore();
    const reserved = `xstate.${'x'.repeat(200)}`;
    const bodies = ['not json', '{"kind":"COUNT"}', '{"type":7}', JSON.stringify({ type: reserved }), '{"type":"ACTION_THROWS"}'];

    // Act
    await processBatch(
      bodies.map((body, i) => fifoRecord('faulty/h1', sequence(i + 1), body)),
      core,
      budget(),
    );

    // Assess
    const item = await stored(store, 'faulty/h1');
    expect(item.history.map(({ type, outcome, error }) => ({ type, outcome, error }))).toEqual([
      { type: '(not JSON)', outcome: 'dead-lettered', error: 'invalid-json' },
      { type: '(no type)', outcome: 'dead-lettered', error: 'invalid-event' },
      { type: '(no type)', outcome: 'dead-lettered', error: 'invalid-event' },
      { type: `${reserved.slice(0, 128)}…`, outcome: 'dead-lettered', error: 'reserved-type' },
      { type: 'ACTION_THROWS', outcome: 'error', error: 'machine-error' },
    ]);
    expect(item.outcome).toBe('error');
    expect(item.lastSeq).toBe(sequence(5).toString());
  });

  it("keeps the start of a dead letter's reason in history, and the letter a redriven event came from", async () => {
    // Prepare
    const { core, store, deadLetters } = makeCore();
    const redrivenFrom = (letterId: string) => ({
      'settle-redrive-of': { stringValue: letterId, stringListValues: [], binaryListValues: [], dataType: 'String' },
    });
    const poison = {
      ...fifoRecord('faulty/h2', sequence(1), { type: `xstate.${'y'.repeat(400)}` }),
      messageAttributes: redrivenFrom('letter-a'),
    };
    const good = { ...fifoRecord('faulty/h2', sequence(2), { type: 'OK' }), messageAttributes: redrivenFrom('letter-b') };

    // Act
    await processBatch([poison, good, fifoRecord('faulty/h2', sequence(3), { type: 'OK' })], core, budget());

    // Assess
    const [first, second, third] = (await stored(store, 'faulty/h2')).history;
    const reason = deadLetters.letters[0]?.error.message ?? '';
    expect(reason).toMatch(/^Event type 'xstate\.y/);
    expect(first?.reason).toBe(reason.slice(0, maxHistoryReasonLength));
    expect(first?.redriveOf).toBe('letter-a');
    expect(second).toMatchObject({ type: 'OK', redriveOf: 'letter-b' });
    expect(second?.reason).toBeUndefined();
    expect(third && 'redriveOf' in third).toBe(false);
  });

  it('keeps the last historyLimit entries, and the outcome of the last event', async () => {
    const { core, store } = makeCore({ historyLimit: 2 });
    const types = ['OK', 'NOPE', 'OK'];

    await processBatch(
      types.map((type, i) => fifoRecord('faulty/h2', sequence(i + 1), { type })),
      core,
      budget(),
    );

    const item = await stored(store, 'faulty/h2');
    expect(item.history.map((entry) => [entry.seq, entry.outcome])).toEqual([
      [sequence(2).toString(), 'ignored'],
      [sequence(3).toString(), 'resolve'],
    ]);
    expect(item.outcome).toBe('resolve');
  });

  it('reports each applied event once it is saved, with its instance, sequence number and duration', async () => {
    // Prepare
    const { core, store: memory, applied } = makeCore();
    const records = [
      fifoRecord('faulty/o1', sequence(1), { type: 'OK' }),
      fifoRecord('faulty/o1', sequence(2), 'poison'),
      fifoRecord('faulty/o1', sequence(3), { type: 'NOPE' }),
    ];
    const { store } = scriptedStore(memory, {
      write: (call) => (call === 1 ? new RetryableError('storage-unavailable', 'throttled') : undefined),
    });

    // Act
    await processBatch(records, { ...core, store }, budget());
    const afterFailedWrite = [...applied];
    await processBatch(records, core, budget());

    // Assess
    expect(afterFailedWrite).toEqual([]);
    expect(applied).toEqual([
      {
        eventType: 'OK',
        outcome: 'resolve',
        from: 'idle',
        to: 'idle',
        instanceKey: 'faulty/o1',
        sequenceNumber: sequence(1).toString(),
        durationMs: expect.any(Number),
      },
      {
        eventType: 'NOPE',
        outcome: 'ignored',
        from: 'idle',
        to: 'idle',
        instanceKey: 'faulty/o1',
        sequenceNumber: sequence(3).toString(),
        durationMs: expect.any(Number),
      },
    ]);
    for (const event of applied) {
      expect(event.durationMs).toBeGreaterThanOrEqual(0);
      expect(Math.round(event.durationMs * 10)).toBe(event.durationMs * 10);
    }
  });

  it('needs no onApplied listener', async () => {
    const { core, store } = makeCore();
    const { onApplied: _, ...withoutListener } = core;

    const response = await processBatch([fifoRecord('counter/u1', sequence(1), { type: 'COUNT' })], withoutListener, budget());

    expect(response.batchItemFailures).toEqual([]);
    expect((await stored(store, 'counter/u1')).snapshot.context).toEqual({ count: 2 });
  });

  it('stops each instance actor at the end of its batch: invoked work still running does not act afterwards', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    finishedWork.length = 0;
    const { core, store } = makeCore();

    await processBatch([fifoRecord('busy/w1', sequence(1), { type: 'WORK' })], core, budget());
    await vi.advanceTimersByTimeAsync(500);

    expect(finishedWork).toEqual([]);
    expect((await stored(store, 'busy/w1')).value).toBe('working');
  });

  it('writes nothing for a new instance whose only event is dead-lettered, and still sends its letter', async () => {
    const { core, store, deadLetters } = makeCore();
    const poison = fifoRecord('counter/n1', sequence(1), 'poison');

    const response = await processBatch([poison], core, budget());

    expect(response.batchItemFailures).toEqual([]);
    expect(store.calls.write).toBe(0);
    expect(await store.read('counter/n1')).toBeUndefined();
    expect(deadLetters.letters.map((letter) => letter.messageId)).toEqual([poison.messageId]);
  });

  it('writes nothing when every record was handled before', async () => {
    const { core, store } = makeCore();
    const record = fifoRecord('counter/n2', sequence(1), { type: 'COUNT' });
    await processBatch([record], core, budget());

    await processBatch([record, { ...record, messageId: 'again' }], core, budget());

    expect(store.calls.write).toBe(1);
  });

  it('dead-letters alone an event whose delayed event would make the item too large, blaming the timers', async () => {
    // Prepare: two payloads of 200 KB fit one item only one at a time.
    const { core, store, deadLetters } = makeCore();
    const payload = (c: string) => c.repeat(200_000);
    const records = [
      fifoRecord('heavy/x1', sequence(1), { type: 'LATER', data: payload('a') }),
      fifoRecord('heavy/x1', sequence(2), { type: 'LATER', data: payload('b') }),
      fifoRecord('heavy/x1', sequence(3), { type: 'OK' }),
    ];

    // Act
    const response = await processBatch(records, core, budget());

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(deadLetters.letters.map((letter) => [letter.messageId, letter.error.code])).toEqual([
      [records[1]?.messageId, 'snapshot-too-large'],
    ]);
    expect(deadLetters.letters[0]?.error.message).toMatch(/its pending timers take \d+ bytes/);
    const item = await stored(store, 'heavy/x1');
    expect(item.timers.map((timer) => (timer.event as unknown as { data: string }).data.slice(0, 3))).toEqual(['aaa']);
    expect(item.snapshot.context).toEqual({ oks: 1 });
    expect(item.history.map((entry) => entry.outcome)).toEqual(['resolve', 'dead-lettered', 'resolve']);
  });
});

describe('processBatch: durable timers', () => {
  it('drops a timer whose delivery failed for good, so the item next wakes for the other one', async () => {
    // Prepare
    let now = start;
    const { core, store, deadLetters } = makeCore({ now: () => now });
    await processBatch([fifoRecord('bell/b1', sequence(1), { type: 'ARM' })], core, budget());

    // Act
    now = start + day;
    const response = await processBatch([fifoRecord('bell/b1', sequence(2), { type: 'settle.wake', wakeAt: start + day })], core, budget());

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(deadLetters.letters.map((letter) => letter.error.code)).toEqual(['machine-error']);
    const item = await stored(store, 'bell/b1');
    expect(item.timers.map((timer) => timer.delay)).toEqual([2 * day]);
    expect(item.wakeAt).toBe(start + 2 * day);
    expect(item.history.at(-1)).toMatchObject({ type: 'settle.wake', outcome: 'error', error: 'machine-error' });
  });
});

describe('processBatch: changing a machine', () => {
  it('continues a stored instance from what migrate() returns, and saves it under the new version', async () => {
    // Prepare: version 2 of the counter counts in tens.
    const v1 = makeCore();
    await processBatch([fifoRecord('counter/g1', sequence(1), { type: 'COUNT' })], v1.core, budget());
    const counter = examples.counter;
    const v2 = makeCore({
      store: v1.store,
      registry: defineRegistry({
        counter: {
          ...counter,
          version: 2,
          migrate: (snapshot, fromVersion) =>
            fromVersion === 1
              ? ({ ...snapshot, context: { count: (snapshot.context as { count: number }).count * 10 } } as PersistedSnapshot)
              : undefined,
        },
      }),
    });

    // Act
    const response = await processBatch([fifoRecord('counter/g1', sequence(2), { type: 'COUNT' })], v2.core, budget());

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(v2.deadLetters.letters).toEqual([]);
    const item = await stored(v1.store, 'counter/g1');
    expect(item.machineVersion).toBe(2);
    expect(item.snapshot.context).toEqual({ count: 22 });
  });

  it('dead-letters every new event of an instance it cannot open, and keeps the stored state while recording them', async () => {
    const v1 = makeCore();
    await processBatch([fifoRecord('counter/g2', sequence(1), { type: 'COUNT' })], v1.core, budget());
    const v2 = makeCore({ store: v1.store, registry: defineRegistry({ counter: { ...examples.counter, version: 2 } }) });
    const records = [2, 3].map((n) => fifoRecord('counter/g2', sequence(n), { type: 'COUNT' }));

    const response = await processBatch(records, v2.core, budget());

    expect(response.batchItemFailures).toEqual([]);
    expect(v2.deadLetters.letters.map((letter) => letter.error.code)).toEqual(['unknown-machine-version', 'unknown-machine-version']);
    const item = await stored(v1.store, 'counter/g2');
    expect(item).toMatchObject({ machineVersion: 1, lastSeq: sequence(3).toString(), snapshot: { context: { count: 2 } } });
    expect(item.history.map((entry) => [entry.type, entry.outcome])).toEqual([
      ['COUNT', 'resolve'],
      ['COUNT', 'dead-lettered'],
      ['COUNT', 'dead-lettered'],
    ]);
  });
});

describe('processBatch: what reaches the machine', () => {
  it('names the machines it knows when a group names another', async () => {
    const { core, deadLetters } = makeCore({ registry: defineRegistry({ counter: examples.counter, payment: examples.payment }) });
    const empty = makeCore({ registry: {} });

    await processBatch([fifoRecord('constructor/c1', sequence(1), { type: 'GO' })], core, budget());
    await processBatch([fifoRecord('counter/c1', sequence(1), { type: 'GO' })], empty.core, budget());

    expect(deadLetters.letters[0]?.error).toMatchObject({ code: 'unknown-machine', instanceKey: 'constructor/c1' });
    expect(deadLetters.letters[0]?.error.message).toBe(
      "No machine named 'constructor' is registered (instance constructor/c1); known machines: counter, payment. " +
        'Fix the message group id, or add the machine to the registry your worker is built with and deploy.',
    );
    expect(empty.deadLetters.letters[0]?.error.message).toContain('known machines: none.');
  });

  it('dead-letters a record without a MessageGroupId as invalid-instance-key, keeping the empty group', async () => {
    const { core, deadLetters } = makeCore();
    const record = fifoRecord('', sequence(1), { type: 'COUNT' });

    await processBatch([record], core, budget());

    expect(deadLetters.letters.map((letter) => [letter.groupId, letter.error.code])).toEqual([['', 'invalid-instance-key']]);
  });

  it('says which SequenceNumber it could not use: none, or the first 64 characters', async () => {
    const { core, deadLetters } = makeCore();
    const withRaw = (raw: string) => {
      const record = fifoRecord('counter/q1', sequence(1), { type: 'COUNT' });
      return { ...record, attributes: { ...record.attributes, SequenceNumber: raw } };
    };
    const empty = withRaw('');
    const long = withRaw(`${'9'.repeat(60)}abcdefgh`);

    await processBatch([empty, long], core, budget());

    expect(deadLetters.letters.map((letter) => letter.sequenceNumber)).toEqual(['', long.attributes.SequenceNumber]);
    expect(deadLetters.letters.map((letter) => [letter.error.code, letter.error.instanceKey])).toEqual([
      ['invalid-sequence-number', 'counter/q1'],
      ['invalid-sequence-number', 'counter/q1'],
    ]);
    expect(deadLetters.letters[0]?.error.message).toBe(
      `The record ${empty.messageId} for instance counter/q1 has SequenceNumber none, not a decimal number, so it cannot be told apart from a ` +
        'redelivery and was not applied. Settle takes events from an SQS FIFO queue, which numbers every message: send the event there ' +
        '(a replay or test tool must copy the SequenceNumber SQS gave it).',
    );
    expect(deadLetters.letters[1]?.error.message).toContain(`has SequenceNumber '${'9'.repeat(60)}abcd', not a decimal number`);
  });

  it('does not read the instance for a group whose every record lacks a usable SequenceNumber', async () => {
    const { core, store, deadLetters } = makeCore();
    const record = fifoRecord('counter/q2', sequence(1), { type: 'COUNT' });

    await processBatch([{ ...record, attributes: { ...record.attributes, SequenceNumber: 'x' } }], core, budget());

    expect(store.calls.read).toBe(0);
    expect(deadLetters.letters.map((letter) => letter.error.code)).toEqual(['invalid-sequence-number']);
  });

  it('applies a first event numbered 0', async () => {
    const { core, store } = makeCore();

    await processBatch([fifoRecord('counter/q3', '0', { type: 'COUNT' })], core, budget());

    expect((await stored(store, 'counter/q3')).snapshot.context).toEqual({ count: 2 });
  });

  it('hands the machine the instance key, the SequenceNumber as SQS wrote it, and an idempotency key made of both', async () => {
    const { core, store } = makeCore();

    await processBatch([fifoRecord('spy/k1', '00000000000000000042', { type: 'LOOK' })], core, budget());

    expect((await stored(store, 'spy/k1')).snapshot.context).toEqual({
      seen: [{ instanceKey: 'spy/k1', sequenceNumber: '00000000000000000042', idempotencyKey: 'spy/k1#00000000000000000042' }],
    });
  });

  it('dead-letters an event whose validateEvent throws, saying how to fix the validator', async () => {
    const throwing = defineRegistry({
      counter: {
        ...examples.counter,
        validateEvent: () => {
          throw new SyntaxError('bad schema');
        },
      },
    });
    const { core, deadLetters } = makeCore({ registry: throwing });

    await processBatch([fifoRecord('counter/z1', sequence(1), { type: 'COUNT' })], core, budget());

    expect(deadLetters.letters[0]?.error).toMatchObject({ code: 'schema-violation', instanceKey: 'counter/z1' });
    expect(deadLetters.letters[0]?.error.message).toBe(
      "validateEvent of machine 'counter' threw SyntaxError: bad schema on event 'COUNT' for instance counter/z1. " +
        'Make it return a message for bad input instead of throwing, then redrive the event from the DLQ.',
    );
  });

  it('dead-letters an event validateEvent finds fault with, quoting its message', async () => {
    const { core, deadLetters, store } = makeCore();

    await processBatch(
      [
        fifoRecord('payment/p1', sequence(1), { type: 'CHECKOUT', amount: -5 }),
        fifoRecord('payment/p1', sequence(2), { type: 'CHECKOUT', amount: 5 }),
      ],
      core,
      budget(),
    );

    expect(deadLetters.letters.map((letter) => [letter.error.code, letter.error.instanceKey])).toEqual([
      ['schema-violation', 'payment/p1'],
    ]);
    expect(deadLetters.letters[0]?.error.message).toBe(
      `Event 'CHECKOUT' for instance payment/p1 does not match machine 'payment': "amount" must be a positive number.`,
    );
    expect((await stored(store, 'payment/p1')).value).toBe('awaitingPayment');
  });
});

describe('processBatch: time', () => {
  it('gives each event at most eventTimeoutMs to settle', async () => {
    const logger = recordingLogger();
    const { core, store } = makeCore({ eventTimeoutMs: 5, logger });
    const record = fifoRecord('slow/s1', sequence(1), { type: 'STEP' });

    const response = await processBatch([record], core, budget(5_000));

    expect(ids(response)).toEqual([record.messageId]);
    expect(await store.read('slow/s1')).toBeUndefined();
    expect(logger.warnings).toEqual([
      {
        message: 'Event failed; it and the rest of its group are retried',
        attributes: {
          instanceKey: 'slow/s1',
          sequenceNumber: sequence(1).toString(),
          error: { name: 'SettleTimeoutError', message: expect.stringContaining("after event 'STEP'") },
        },
      },
    ]);
  });

  it('gives each event at most what the batch has left, and 10 s by default', async () => {
    const short = makeCore();
    const long = makeCore();
    const record = fifoRecord('slow/s2', sequence(1), { type: 'STEP' });

    const cut = await processBatch([record], short.core, budget(5));
    const whole = await processBatch([record], long.core, budget(60_000));

    expect(ids(cut)).toEqual([record.messageId]);
    expect(whole.batchItemFailures).toEqual([]);
  });

  it('reports how long an event took to settle, in milliseconds', async () => {
    const { core, applied } = makeCore();

    await processBatch([fifoRecord('slow/s3', sequence(1), { type: 'STEP' })], core, budget());

    expect(applied).toHaveLength(1);
    expect(applied[0]?.durationMs).toBeGreaterThanOrEqual(35);
    expect(applied[0]?.durationMs).toBeLessThan(2_000);
  });
});
