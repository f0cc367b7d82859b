/**
 * The poison-input catalogue (issue 5): one test per class of bad input. Each asserts the reason a
 * person finds in the dead-letter queue (`error.code`, and a message that names the instance and says
 * what to do) and that another instance's event in the same batch was applied meanwhile (I4: one bad
 * event never blocks other instances). The last test sends a few classes through the local stack.
 */
import { DeleteMessageCommand, ReceiveMessageCommand, SendMessageCommand, type Message } from '@aws-sdk/client-sqs';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActor, setup } from 'xstate';
import type { SQSRecord } from 'aws-lambda';
import type { DeadLetter } from '../runtime/core/dead-letters.ts';
import { MemoryDeadLetterQueue } from '../runtime/memory/memory-queues.ts';
import type { PermanentCode } from '../runtime/core/errors.ts';
import { MemoryStore } from '../runtime/memory/memory-store.ts';
import { processBatch, type WorkerCore } from '../runtime/core/process-batch.ts';
import { defineRegistry, type PersistedSnapshot } from '../runtime/core/registry.ts';
import { deadLetterAttributes } from '../runtime/core/resources.ts';
import type { InstanceRecord } from '../runtime/core/store.ts';
import { silentLogger } from '../local/log.ts';
import { startLocalStack, type LocalStack } from '../local/stack.ts';
import { registry } from '../machines/index.ts';
import { faultyMachine } from './support/faulty.ts';
import { fifoRecord, sequence } from './support/records.ts';

/** A state the current `flow` machine no longer has: snapshots saved in it no longer fit. */
const flowStates = {
  start: { tags: ['resolve'], on: { NEXT: 'end' } },
  end: { tags: ['resolve'] },
} as const;
const flowBefore = setup({}).createMachine({
  id: 'flow',
  initial: 'start',
  states: { ...flowStates, legacy: { tags: ['resolve'] }, start: { tags: ['resolve'], on: { NEXT: 'end', ARCHIVE: 'legacy' } } },
});
const flowNow = setup({}).createMachine({ id: 'flow', initial: 'start', states: flowStates });

/** Machines that misbehave on purpose, next to the example machines. */
const poisonRegistry = defineRegistry({
  ...registry,
  faulty: { version: 1, machine: faultyMachine },
  flow: { version: 1, machine: flowNow },
});

const maxReceiveCount = 5;

function makeWorld() {
  const store = new MemoryStore();
  const deadLetters = new MemoryDeadLetterQueue();
  const core: WorkerCore = {
    registry: poisonRegistry,
    store,
    deadLetters,
    now: () => Date.parse('2026-11-23T10:00:00Z'),
    maxReceiveCount,
    wakeShards: 8,
  };
  let seq = 0;
  return {
    store,
    deadLetters,
    /** A record with the next sequence number. */
    record: (groupId: string, body: unknown, options: { receiveCount?: number } = {}) =>
      fifoRecord(groupId, sequence(++seq), body, options),
    run: (records: SQSRecord[], budgetMs = 2_000) => processBatch(records, core, () => budgetMs),
    item: async (pk: string): Promise<InstanceRecord> => {
      const item = await store.read(pk);
      if (!item) throw new Error(`instance ${pk} was never saved`);
      return item;
    },
  };
}

type World = ReturnType<typeof makeWorld>;

/** Another instance's event, sent in the same batch as the poison. */
const bystander = (world: World) => world.record('counter/bystander', { type: 'COUNT' });

async function expectBystanderApplied(world: World): Promise<void> {
  const item = await world.item('counter/bystander');
  expect(item.snapshot.context).toEqual({ count: 2 });
  expect(item.outcome).toBe('resolve');
}

/** The one dead letter of `record`: its code, and a message that names `instanceKey` and matches `fix`. */
function expectDeadLetter(world: World, record: SQSRecord, code: PermanentCode, instanceKey: string, fix: RegExp): DeadLetter {
  const letters = world.deadLetters.letters.filter((letter) => letter.messageId === record.messageId);
  expect(letters).toHaveLength(1);
  const letter = letters[0] as DeadLetter;
  expect(letter.error.code).toBe(code);
  expect(letter.error.kind).toBe('permanent');
  expect(letter.error.message).toContain(instanceKey);
  expect(letter.error.message).toMatch(fix);
  expect(letter).toMatchObject({
    body: record.body,
    groupId: record.attributes.MessageGroupId,
    sequenceNumber: record.attributes.SequenceNumber,
  });
  return letter;
}

describe('poison input', () => {
  it('dead-letters malformed JSON (invalid-json) and applies the other instance', async () => {
    const world = makeWorld();
    const poison = world.record('counter/p1', '{"type": "COUNT"');

    const response = await world.run([poison, bystander(world)]);

    expect(response.batchItemFailures).toEqual([]);
    expectDeadLetter(world, poison, 'invalid-json', 'counter/p1', /Send the event as a JSON object/);
    await expectBystanderApplied(world);
  });

  it('dead-letters a body that is JSON but not an object — array, number, string, null (invalid-event)', async () => {
    const world = makeWorld();
    const poisons = [
      [world.record('counter/array', '[{"type":"COUNT"}]'), 'an array'],
      [world.record('counter/number', '42'), 'a number'],
      [world.record('counter/string', '"COUNT"'), 'a string'],
      [world.record('counter/null', 'null'), 'null'],
    ] as const;

    const response = await world.run([...poisons.map(([record]) => record), bystander(world)]);

    expect(response.batchItemFailures).toEqual([]);
    for (const [record, got] of poisons) {
      const letter = expectDeadLetter(
        world,
        record,
        'invalid-event',
        record.attributes.MessageGroupId ?? '',
        /Send an object with a string "type"/,
      );
      expect(letter.error.message).toContain(`is ${got}, not a JSON object`);
    }
    await expectBystanderApplied(world);
  });

  it('dead-letters an event without a string "type" (invalid-event)', async () => {
    const world = makeWorld();
    const missing = world.record('counter/p2', { kind: 'COUNT' });
    const numeric = world.record('counter/p3', { type: 7 });
    const empty = world.record('counter/p4', { type: '' });

    const response = await world.run([missing, numeric, empty, bystander(world)]);

    expect(response.batchItemFailures).toEqual([]);
    for (const [record, key] of [
      [missing, 'counter/p2'],
      [numeric, 'counter/p3'],
      [empty, 'counter/p4'],
    ] as const) {
      expectDeadLetter(world, record, 'invalid-event', key, /has no string "type".*Add one/);
    }
    await expectBystanderApplied(world);
  });

  it("dead-letters a reserved 'xstate.' or 'settle.' type (reserved-type), and a settle.wake without a numeric wakeAt (invalid-event), but accepts a real wake-up", async () => {
    const world = makeWorld();
    const forgedInit = world.record('counter/p5', { type: 'xstate.init' });
    const forgedDone = world.record('counter/p6', { type: 'xstate.done.actor.0.counter.counting', output: 99 });
    const forgedSettle = world.record('counter/p7', { type: 'settle.redrive' });
    const wakeWithout = world.record('counter/p8', { type: 'settle.wake' });
    const wakeAsText = world.record('counter/p9', { type: 'settle.wake', wakeAt: '1700000000000' });
    const realWake = world.record('payment/w1', { type: 'settle.wake', wakeAt: Date.parse('2026-11-23T10:00:00Z') });

    const response = await world.run([forgedInit, forgedDone, forgedSettle, wakeWithout, wakeAsText, realWake, bystander(world)]);

    expect(response.batchItemFailures).toEqual([]);
    expectDeadLetter(world, forgedInit, 'reserved-type', 'counter/p5', /reserved prefix 'xstate\.'.*Rename the event/);
    expectDeadLetter(world, forgedDone, 'reserved-type', 'counter/p6', /reserved prefix 'xstate\.'.*Rename the event/);
    expectDeadLetter(world, forgedSettle, 'reserved-type', 'counter/p7', /reserved prefix 'settle\.'.*Rename the event/);
    expectDeadLetter(world, wakeWithout, 'invalid-event', 'counter/p8', /whole-number "wakeAt".*do not send them by hand/);
    expectDeadLetter(world, wakeAsText, 'invalid-event', 'counter/p9', /whole-number "wakeAt"/);
    expect(world.deadLetters.letters).toHaveLength(5);
    // The wake-up is the sweeper's own event: accepted, not dead-lettered, and with nothing due it records
    // nothing (for an instance that does not exist, nothing is created).
    expect(await world.store.read('payment/w1')).toBeUndefined();
    await expectBystanderApplied(world);
  });

  it('dead-letters an event that sets the reserved field "settle" (invalid-event): the idempotency key cannot be forged', async () => {
    const world = makeWorld();
    const poison = world.record('counter/p10', { type: 'COUNT', settle: { idempotencyKey: 'counter/p10#1' } });

    const response = await world.run([poison, bystander(world)]);

    expect(response.batchItemFailures).toEqual([]);
    expectDeadLetter(world, poison, 'invalid-event', 'counter/p10', /sets the field "settle".*Remove it/);
    expect(await world.store.read('counter/p10')).toBeUndefined();
    await expectBystanderApplied(world);
  });

  it('dead-letters every record of an unknown machine (unknown-machine), naming the known ones', async () => {
    const world = makeWorld();
    const first = world.record('invoice/i1', { type: 'ISSUE' });
    const second = world.record('invoice/i1', { type: 'PAY' });

    const response = await world.run([first, bystander(world), second]);

    expect(response.batchItemFailures).toEqual([]);
    for (const record of [first, second]) {
      const letter = expectDeadLetter(
        world,
        record,
        'unknown-machine',
        'invoice/i1',
        /add the machine to the registry your worker is built with/,
      );
      expect(letter.error.message).toMatch(/No machine named 'invoice'.*known machines: .*counter/);
    }
    expect(await world.store.read('invoice/i1')).toBeUndefined();
    await expectBystanderApplied(world);
  });

  it('dead-letters a malformed group id (invalid-instance-key): no slash, bad machine name, too long, outside the alphabet, missing', async () => {
    const world = makeWorld();
    const malformed = ['counter', 'Counter/c1', '/c1', 'counter/', `counter/${'x'.repeat(130)}`, 'counter/c 1', ''];
    const records = malformed.map((groupId) => world.record(groupId, { type: 'COUNT' }));
    const missing = world.record('x', { type: 'COUNT' });
    delete (missing.attributes as { MessageGroupId?: string }).MessageGroupId;

    const response = await world.run([...records, missing, bystander(world)]);

    expect(response.batchItemFailures).toEqual([]);
    for (const [index, record] of records.entries()) {
      const groupId = malformed[index] ?? '';
      expectDeadLetter(world, record, 'invalid-instance-key', groupId.slice(0, 160), /--message-group-id <machine>\/<instanceId>/);
    }
    const letter = world.deadLetters.letters.find((l) => l.messageId === missing.messageId);
    expect(letter?.error.code).toBe('invalid-instance-key');
    expect(letter?.error.message).toMatch(/no MessageGroupId.*--message-group-id <machine>\/<instanceId>/);
    expect(world.store.all().map((item) => item.pk)).toEqual(['counter/bystander']);
    await expectBystanderApplied(world);
  });

  it('dead-letters an event over 256 KiB (event-too-large) before parsing it', async () => {
    const world = makeWorld();
    const poison = world.record('approval/big', { type: 'SUBMIT', by: 'eve', attachment: 'x'.repeat(262_144) });

    const response = await world.run([poison, bystander(world)]);

    expect(response.batchItemFailures).toEqual([]);
    expectDeadLetter(world, poison, 'event-too-large', 'approval/big', /over the 262144-byte limit.*Send a reference/);
    await expectBystanderApplied(world);
  });

  it('dead-letters an event whose action throws (machine-error), keeping the state before it', async () => {
    const world = makeWorld();
    const ok = world.record('faulty/a1', { type: 'OK' });
    const poison = world.record('faulty/a1', { type: 'ACTION_THROWS' });
    const after = world.record('faulty/a1', { type: 'OK' });

    const response = await world.run([ok, poison, bystander(world), after]);

    expect(response.batchItemFailures).toEqual([]);
    const letter = expectDeadLetter(world, poison, 'machine-error', 'faulty/a1', /fix the machine.*redrive the event from the DLQ/);
    expect(letter.error.message).toContain('TypeError: the ledger is closed');
    const item = await world.item('faulty/a1');
    expect(item.snapshot.context).toEqual({ n: 2 });
    expect(item.status).toBe('active');
    await expectBystanderApplied(world);
  });

  it('dead-letters an event whose guard throws (machine-error) on the first receive, keeping the state before it', async () => {
    // Found by this catalogue: can() ran the guards outside the error mapping, so the event was retried
    // maxReceiveCount times as if transient (fixed in ebaf04f).
    const world = makeWorld();
    const ok = world.record('faulty/g1', { type: 'OK' });
    const poison = world.record('faulty/g1', { type: 'GUARD_THROWS' });
    const after = world.record('faulty/g1', { type: 'OK' });

    const response = await world.run([ok, poison, bystander(world), after]);

    expect(response.batchItemFailures).toEqual([]);
    const letter = expectDeadLetter(world, poison, 'machine-error', 'faulty/g1', /fix the machine.*redrive the event from the DLQ/);
    expect(letter.error.message).toMatch(/guard 'exploding'.*the guard cannot decide/s);
    expect((await world.item('faulty/g1')).snapshot.context).toEqual({ n: 2 });
    await expectBystanderApplied(world);
  });

  it('dead-letters an event whose invoked actor rejects without onError (machine-error)', async () => {
    const world = makeWorld();
    const ok = world.record('faulty/i1', { type: 'OK' });
    const poison = world.record('faulty/i1', { type: 'INVOKE_THROWS' });

    const response = await world.run([ok, poison, bystander(world)]);

    expect(response.batchItemFailures).toEqual([]);
    const letter = expectDeadLetter(world, poison, 'machine-error', 'faulty/i1', /give the invoke an onError/);
    expect(letter.error.message).toContain('the payment provider is down');
    const item = await world.item('faulty/i1');
    expect(item.value).toBe('idle');
    expect(item.snapshot.context).toEqual({ n: 1 });
    await expectBystanderApplied(world);
  });

  it('retries a machine that never settles (settle-timeout) with the rest of its group, then dead-letters it itself on the last receive (retries-exhausted)', async () => {
    const world = makeWorld();
    const hang = (receiveCount: number) => fifoRecord('faulty/h1', sequence(1), { type: 'HANG' }, { receiveCount, messageId: 'hang-1' });
    const next = (receiveCount: number) => fifoRecord('faulty/h1', sequence(2), { type: 'OK' }, { receiveCount, messageId: 'next-1' });

    // Receives 1 … 4: retryable; the hanging event and the one behind it go back to SQS (I1), nothing is written.
    for (let receive = 1; receive < maxReceiveCount; receive += 1) {
      const response = await world.run([hang(receive), next(receive), world.record(`counter/bystander-${receive}`, { type: 'COUNT' })], 30);
      expect(response.batchItemFailures.map((failure) => failure.itemIdentifier)).toEqual(['hang-1', 'next-1']);
      expect(await world.store.read('faulty/h1')).toBeUndefined();
      expect((await world.item(`counter/bystander-${receive}`)).snapshot.context).toEqual({ count: 2 });
    }
    expect(world.deadLetters.letters).toEqual([]);

    // The last receive: the worker dead-letters it with its reason, and the group moves on.
    const last = hang(maxReceiveCount);
    const response = await world.run([last, next(maxReceiveCount), bystander(world)], 30);

    expect(response.batchItemFailures).toEqual([]);
    expectDeadLetter(
      world,
      last,
      'retries-exhausted',
      'faulty/h1',
      /Tag every state where the machine waits.*Gave up after 5 receives \(settle-timeout\)/s,
    );
    expect((await world.item('faulty/h1')).snapshot.context).toEqual({ n: 1 });
    await expectBystanderApplied(world);
  });

  it('dead-letters events for a snapshot saved by an unknown machine version (unknown-machine-version)', async () => {
    const world = makeWorld();
    await world.run([world.record('counter/v99', { type: 'COUNT' })]);
    const saved = await world.item('counter/v99');
    await world.store.write({ ...saved, machineVersion: 99, version: saved.version + 1 }, saved.version);
    const poison = world.record('counter/v99', { type: 'COUNT' });

    const response = await world.run([poison, bystander(world)]);

    expect(response.batchItemFailures).toEqual([]);
    expectDeadLetter(
      world,
      poison,
      'unknown-machine-version',
      'counter/v99',
      /saved by version 99.*Add a migrate\(\) that handles version 99/,
    );
    const item = await world.item('counter/v99');
    // The instance keeps its state; the write that records the dead letter and the one after the letter was sent.
    expect(item).toMatchObject({ machineVersion: 99, version: saved.version + 3, lastSeq: poison.attributes.SequenceNumber, letters: [] });
    expect(item.history.at(-1)).toMatchObject({ outcome: 'dead-lettered', error: 'unknown-machine-version' });
    expect(item.snapshot.context).toEqual({ count: 2 });
    await expectBystanderApplied(world);
  });

  it('dead-letters events for a snapshot whose state was removed from the machine (snapshot-mismatch)', async () => {
    const world = makeWorld();
    await world.run([world.record('flow/f1', { type: 'NEXT' })]);
    const saved = await world.item('flow/f1');
    // What the previous deployment saved: an instance resting in 'legacy', a state the machine no longer has.
    const before = createActor(flowBefore).start();
    before.send({ type: 'ARCHIVE' });
    const legacy = JSON.parse(JSON.stringify(before.getPersistedSnapshot())) as PersistedSnapshot;
    before.stop();
    await world.store.write({ ...saved, snapshot: legacy, value: 'legacy', version: saved.version + 1 }, saved.version);
    const poison = world.record('flow/f1', { type: 'NEXT' });

    const response = await world.run([poison, bystander(world)]);

    expect(response.batchItemFailures).toEqual([]);
    const letter = expectDeadLetter(
      world,
      poison,
      'snapshot-mismatch',
      'flow/f1',
      /bump the version in the registry and give a migrate\(\)/,
    );
    expect(letter.error.message).toContain('legacy');
    expect(await world.item('flow/f1')).toMatchObject({ value: 'legacy', version: saved.version + 3, letters: [] });
    await expectBystanderApplied(world);
  });

  it("dead-letters an event the machine's validateEvent rejects (schema-violation), then applies the valid one behind it", async () => {
    const world = makeWorld();
    const submit = world.record('approval/s1', { type: 'SUBMIT', by: 'eve' });
    const poison = world.record('approval/s1', { type: 'APPROVE', role: 'ops', by: 'ana' });
    const valid = world.record('approval/s1', { type: 'APPROVE', role: 'legal', by: 'ana' });

    const response = await world.run([submit, poison, bystander(world), valid]);

    expect(response.batchItemFailures).toEqual([]);
    expectDeadLetter(world, poison, 'schema-violation', 'approval/s1', /"role" must be "legal" or "finance", got "ops"/);
    const item = await world.item('approval/s1');
    expect(item.snapshot.context).toMatchObject({ approvals: { legal: 'ana' } });
    expect(item.history.map((entry) => entry.outcome)).toEqual(['resolve', 'dead-lettered', 'resolve']);
    await expectBystanderApplied(world);
  });
});

describe('poison input through the local stack', () => {
  let stack: LocalStack | undefined;

  beforeAll(async () => {
    stack = await startLocalStack({
      registry,
      logger: silentLogger,
      sweeper: null,
      poller: { waitTimeSeconds: 1, concurrency: 2 },
    });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('moves each poison message to the DLQ with settle-error and settle-reason, while good events are applied', async () => {
    const running = stack as LocalStack;
    const { sqs, document } = running.clients;
    let dedup = 0;
    const send = (groupId: string, body: string) =>
      sqs.send(
        new SendMessageCommand({
          QueueUrl: running.queueUrl,
          MessageGroupId: groupId,
          MessageDeduplicationId: `d${++dedup}`,
          MessageBody: body,
        }),
      );
    const poisons: Record<string, { code: PermanentCode; instance: string; fix: RegExp }> = {
      '{"type": "COUNT"': { code: 'invalid-json', instance: 'counter/bad-json', fix: /Send the event as a JSON object/ },
      '[1,2,3]': { code: 'invalid-event', instance: 'counter/array', fix: /Send an object with a string "type"/ },
      '{"type":"xstate.init"}': { code: 'reserved-type', instance: 'counter/forged', fix: /Rename the event/ },
      '{"type":"SUBMIT","by":"eve","settle":{"idempotencyKey":"x"}}': {
        code: 'invalid-event',
        instance: 'approval/forged-key',
        fix: /Remove it/,
      },
      '{"type":"ISSUE"}': { code: 'unknown-machine', instance: 'invoice/i1', fix: /add the machine to the registry/ },
      '{"type":"COUNT","group":"no slash"}': { code: 'invalid-instance-key', instance: 'Counter', fix: /<machine>\/<instanceId>/ },
      '{"type":"CHECKOUT","amount":-5}': { code: 'schema-violation', instance: 'payment/neg', fix: /"amount" must be a positive number/ },
    };

    // Good events around the poison ones, in the same groups where that makes sense.
    await send('counter/good', '{"type":"COUNT"}');
    for (const [body, { instance }] of Object.entries(poisons)) await send(instance, body);
    await send('counter/good', '{"type":"COUNT"}');
    await send('payment/neg', '{"type":"CHECKOUT","amount":5}');

    const letters = await receiveAll(running, Object.keys(poisons).length, 20_000);
    const good = await waitFor(async () => {
      const counter = (await document.send(new GetCommand({ TableName: running.tableName, Key: { pk: 'counter/good' } }))).Item;
      const payment = (await document.send(new GetCommand({ TableName: running.tableName, Key: { pk: 'payment/neg' } }))).Item;
      return counter?.lastSeq && payment?.value === 'awaitingPayment' ? { counter, payment } : undefined;
    }, 20_000);

    expect(letters.map((m) => m.Body).sort()).toEqual(Object.keys(poisons).sort());
    for (const message of letters) {
      const expected = poisons[message.Body ?? ''];
      const attributes = message.MessageAttributes ?? {};
      expect(attributes[deadLetterAttributes.error]?.StringValue, message.Body).toBe(expected?.code);
      expect(attributes[deadLetterAttributes.group]?.StringValue).toBe(expected?.instance);
      expect(attributes[deadLetterAttributes.sequenceNumber]?.StringValue).toMatch(/^\d+$/);
      const reason = attributes[deadLetterAttributes.reason]?.StringValue ?? '';
      expect(reason).toContain(expected?.instance);
      expect(reason).toMatch(expected?.fix ?? /./);
    }
    expect(JSON.parse(String(good.counter.snapshot)).context).toEqual({ count: 4 });
    // The rejected CHECKOUT came first, on a new instance: it is in the DLQ, and the valid one created the instance.
    expect(good.payment.history).toMatchObject([{ type: 'CHECKOUT', outcome: 'resolve' }]);
  });
});

/** Polls `probe` until it returns a value, at most `timeoutMs`. */
async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs: number, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Receives (and deletes) DLQ messages until `count` have arrived, at most `timeoutMs`. */
async function receiveAll(stack: LocalStack, count: number, timeoutMs: number): Promise<Message[]> {
  const received: Message[] = [];
  await waitFor(
    async () => {
      const { Messages = [] } = await stack.clients.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: stack.deadLetterQueueUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 1,
          MessageAttributeNames: ['All'],
        }),
      );
      for (const message of Messages) {
        received.push(message);
        await stack.clients.sqs.send(
          new DeleteMessageCommand({ QueueUrl: stack.deadLetterQueueUrl, ReceiptHandle: message.ReceiptHandle }),
        );
      }
      return received.length >= count ? true : undefined;
    },
    timeoutMs,
    0,
  );
  return received;
}
