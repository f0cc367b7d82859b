import { describe, expect, it } from 'vitest';
import { fromPromise } from 'xstate';
import { RetryableError } from '../runtime/core/errors.ts';
import { MemoryStore } from '../runtime/memory/memory-store.ts';
import { processBatch, type WorkerCore } from '../runtime/core/process-batch.ts';
import { defineRegistry, type MachineRegistry } from '../runtime/core/registry.ts';
import type { InstanceStore } from '../runtime/core/store.ts';
import { approvalMachine } from '../machines/approval.ts';
import { registry } from '../machines/index.ts';
import { faultyMachine, never } from './support/faulty.ts';
import { racingStore } from './support/racing-store.ts';
import { budget, makeCore as makeSupportCore, stored } from './support/core.ts';
import { fifoRecord, sequence } from './support/records.ts';

/** Machines that misbehave on purpose. */
const faultyRegistry = defineRegistry({
  ...registry,
  faulty: { version: 1, machine: faultyMachine },
  // Approval whose budget check never finishes: finance never reaches its resting state.
  'slow-approval': {
    version: 1,
    machine: approvalMachine.provide({ actors: { checkBudget: fromPromise<{ withinBudget: boolean }, { document: string }>(never) } }),
  },
});

function makeCore(overrides: Partial<WorkerCore> & { registry?: MachineRegistry } = {}) {
  return makeSupportCore(faultyRegistry, overrides);
}

describe('worker', () => {
  it('counts exactly: each COUNT runs two invoked steps and settles in even', async () => {
    const { core, store } = makeCore();
    const records = [1, 2, 3].map((n) => fifoRecord('counter/c1', sequence(n), { type: 'COUNT' }));

    const response = await processBatch(records, core, budget());

    expect(response.batchItemFailures).toEqual([]);
    const item = await stored(store, 'counter/c1');
    expect(item.snapshot.context).toEqual({ count: 6 });
    expect(item.value).toBe('even');
    expect(item.outcome).toBe('resolve');
    expect(item.lastSeq).toBe(sequence(3).toString());
    expect(item.version).toBe(1);
    expect(item.history.map((entry) => entry.outcome)).toEqual(['resolve', 'resolve', 'resolve']);
  });

  it('skips a record whose SequenceNumber was already applied (redelivery leaves the instance unchanged)', async () => {
    const { core, store } = makeCore();
    const first = fifoRecord('counter/c1', sequence(1), { type: 'COUNT' });
    await processBatch([first], core, budget());
    const before = await stored(store, 'counter/c1');

    const response = await processBatch([{ ...first, receiptHandle: 'again' }], core, budget());

    expect(response.batchItemFailures).toEqual([]);
    expect(await stored(store, 'counter/c1')).toEqual(before);
  });

  it('compares sequence numbers as BigInt, not as JS numbers', async () => {
    // Bug this pins: Number('18000000000000000001') === Number('18000000000000000002'), so a naive
    // compare would skip the second event as a duplicate.
    const { core, store } = makeCore();
    await processBatch([fifoRecord('counter/big', 18_000_000_000_000_000_001n, { type: 'COUNT' })], core, budget());
    await processBatch([fifoRecord('counter/big', 18_000_000_000_000_000_002n, { type: 'COUNT' })], core, budget());

    expect((await stored(store, 'counter/big')).snapshot.context).toEqual({ count: 4 });
  });

  it('records an event the current state does not accept as ignored', async () => {
    const { core, store, deadLetters, applied } = makeCore();

    await processBatch([fifoRecord('approval/doc-1', sequence(1), { type: 'APPROVE', role: 'legal', by: 'ana' })], core, budget());

    const item = await stored(store, 'approval/doc-1');
    expect(item.value).toBe('draft');
    expect(item.outcome).toBe('ignored');
    expect(item.history).toMatchObject([{ type: 'APPROVE', outcome: 'ignored' }]);
    expect(applied).toMatchObject([{ eventType: 'APPROVE', outcome: 'ignored', from: 'draft', to: 'draft' }]);
    expect(deadLetters.letters).toEqual([]);
  });

  it('runs approval through both sign-off regions to done, and a rejection to reject', async () => {
    const { core, store } = makeCore();
    const events = [
      { type: 'SUBMIT', by: 'eve' },
      { type: 'APPROVE', role: 'legal', by: 'ana' },
      { type: 'APPROVE', role: 'finance', by: 'bo' },
    ];
    await processBatch(
      events.map((e, i) => fifoRecord('approval/doc-2', sequence(i + 1), e)),
      core,
      budget(),
    );
    await processBatch(
      [
        fifoRecord('approval/doc-3', sequence(1), events[0]),
        fifoRecord('approval/doc-3', sequence(2), { type: 'REJECT', role: 'finance', by: 'bo' }),
      ],
      core,
      budget(),
    );

    const approved = await stored(store, 'approval/doc-2');
    expect(approved.value).toBe('approved');
    expect(approved.status).toBe('done');
    expect(approved.history.map((h) => h.outcome)).toEqual(['resolve', 'resolve', 'done']);
    const rejected = await stored(store, 'approval/doc-3');
    expect(rejected.value).toBe('rejected');
    expect(rejected.outcome).toBe('reject');
    expect(rejected.tags).toEqual(['reject']);
  });

  it('does not settle approval while only one sign-off region waits', async () => {
    const { core, store } = makeCore();
    const submit = fifoRecord('slow-approval/doc-4', sequence(1), { type: 'SUBMIT', by: 'eve' });

    const response = await processBatch([submit], core, budget(100));

    // Legal rests in a resolve state at once; finance never leaves checkingBudget: not settled.
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: submit.messageId }]);
    expect(await store.read('slow-approval/doc-4')).toBeUndefined();
  });

  it('dead-letters a poison event with its reason, applies the good ones in order, and leaves other instances alone', async () => {
    const { core, store, deadLetters } = makeCore();
    const records = [
      fifoRecord('counter/a', sequence(1), { type: 'COUNT' }),
      fifoRecord('counter/a', sequence(2), '{"type": "COUNT"'),
      fifoRecord('counter/a', sequence(3), { type: 'COUNT' }),
      fifoRecord('counter/b', sequence(4), { type: 'COUNT' }),
    ];

    const response = await processBatch(records, core, budget());

    expect(response.batchItemFailures).toEqual([]);
    expect(deadLetters.letters).toHaveLength(1);
    expect(deadLetters.letters[0]).toMatchObject({
      groupId: 'counter/a',
      sequenceNumber: sequence(2).toString(),
      body: '{"type": "COUNT"',
    });
    expect(deadLetters.letters[0]?.error.code).toBe('invalid-json');
    expect(deadLetters.letters[0]?.error.message).toMatch(/counter\/a.*not JSON/);
    const a = await stored(store, 'counter/a');
    expect(a.snapshot.context).toEqual({ count: 4 });
    expect(a.history.map((h) => [h.seq, h.outcome])).toEqual([
      [sequence(1).toString(), 'resolve'],
      [sequence(2).toString(), 'dead-lettered'],
      [sequence(3).toString(), 'resolve'],
    ]);
    expect((await stored(store, 'counter/b')).snapshot.context).toEqual({ count: 2 });
  });

  it("reports a retryable failure on A's second record and A's later records, while B's records succeed", async () => {
    const { core, store } = makeCore();
    const records = [
      fifoRecord('faulty/a', sequence(1), { type: 'OK' }),
      fifoRecord('faulty/a', sequence(2), { type: 'HANG' }),
      fifoRecord('faulty/a', sequence(3), { type: 'OK' }),
      fifoRecord('faulty/b', sequence(4), { type: 'OK' }),
      fifoRecord('faulty/b', sequence(5), { type: 'OK' }),
    ];

    const response = await processBatch(records, core, budget(100));

    expect(response.batchItemFailures.map((f) => f.itemIdentifier)).toEqual([records[1]?.messageId, records[2]?.messageId]);
    const a = await stored(store, 'faulty/a');
    expect(a.snapshot.context).toEqual({ n: 1 });
    expect(a.value).toBe('idle');
    expect(a.lastSeq).toBe(sequence(1).toString());
    expect((await stored(store, 'faulty/b')).snapshot.context).toEqual({ n: 2 });
  });

  it('dead-letters an error thrown inside a machine with its name and message, and keeps the state before it', async () => {
    const { core, store, deadLetters } = makeCore();
    const records = [
      fifoRecord('faulty/e', sequence(1), { type: 'OK' }),
      fifoRecord('faulty/e', sequence(2), { type: 'ACTION_THROWS' }),
      fifoRecord('faulty/e', sequence(3), { type: 'OK' }),
    ];

    const response = await processBatch(records, core, budget());

    expect(response.batchItemFailures).toEqual([]);
    expect(deadLetters.letters.map((l) => l.error.code)).toEqual(['machine-error']);
    expect(deadLetters.letters[0]?.error.message).toContain('TypeError: the ledger is closed');
    expect(deadLetters.letters[0]?.error.message).toContain('faulty/e');
    const item = await stored(store, 'faulty/e');
    expect(item.snapshot.context).toEqual({ n: 2 });
    expect(item.status).toBe('active');
    expect(item.history.map((h) => h.outcome)).toEqual(['resolve', 'error', 'resolve']);
  });

  it('dead-letters an event whose guard throws as machine-error on the first receive', async () => {
    // Bug: can() runs the guards outside the error mapping, so a throwing guard escaped as a plain Error
    // and blocked its group for five receives. Fix: apply() maps it to machine-error like any machine throw.
    const { core, store, deadLetters } = makeCore();
    const records = [
      fifoRecord('faulty/g1', sequence(1), { type: 'OK' }),
      fifoRecord('faulty/g1', sequence(2), { type: 'GUARD_THROWS' }),
      fifoRecord('faulty/g1', sequence(3), { type: 'OK' }),
    ];

    const response = await processBatch(records, core, budget());

    expect(response.batchItemFailures).toEqual([]);
    expect(deadLetters.letters.map((letter) => letter.error.code)).toEqual(['machine-error']);
    expect(deadLetters.letters[0]?.error.message).toMatch(/guard 'exploding'.*the guard cannot decide.*faulty\/g1.*fix the machine/s);
    expect((await stored(store, 'faulty/g1')).snapshot.context).toEqual({ n: 2 });
  });

  it('applies a record at most once even when a batch holds the same SequenceNumber twice', async () => {
    // Bug: records were filtered against the stored lastSeq only, so a repeat inside one batch (a replay
    // tool, another event source) was applied twice. Fix: skip anything not above the last one handled.
    const { core, store } = makeCore();
    const once = fifoRecord('faulty/d1', sequence(1), { type: 'OK' });

    const response = await processBatch([once, { ...once, receiptHandle: 'second-copy' }], core, budget());

    expect(response.batchItemFailures).toEqual([]);
    expect((await stored(store, 'faulty/d1')).snapshot.context).toEqual({ n: 1 });
  });

  it('dead-letters a retryable failure itself on the last receive, with its reason, so the group moves on', async () => {
    const { core, deadLetters, store } = makeCore();
    const records = [
      fifoRecord('faulty/h', sequence(1), { type: 'HANG' }, { receiveCount: 5 }),
      fifoRecord('faulty/h', sequence(2), { type: 'OK' }, { receiveCount: 5 }),
    ];

    const response = await processBatch(records, core, budget(50));

    expect(response.batchItemFailures).toEqual([]);
    expect(deadLetters.letters[0]?.error.code).toBe('retries-exhausted');
    expect(deadLetters.letters[0]?.error.message).toMatch(
      /did not settle within .* after event 'HANG'.*Gave up after 5 receives \(settle-timeout\)/s,
    );
    expect((await stored(store, 'faulty/h')).snapshot.context).toEqual({ n: 1 });
  });

  it('dead-letters with its reason a record whose group cannot be saved on its last receive, and retries the others', async () => {
    // Bug: a failed read or write handed every record back to SQS, even on the last receive, so SQS's
    // redrive moved it to the DLQ with no settle-error and no settle-reason.
    const { core, deadLetters } = makeCore();
    const failing: InstanceStore = {
      read: async () => undefined,
      write: async () => {
        throw new RetryableError('storage-unavailable', 'DynamoDB call for counter/w failed with ThrottlingException: slow down.');
      },
      findDue: async () => [],
    };
    const last = fifoRecord('counter/w', sequence(1), { type: 'COUNT' }, { receiveCount: 5 });
    const early = fifoRecord('counter/w', sequence(2), { type: 'COUNT' }, { receiveCount: 1 });

    const response = await processBatch([last, early], { ...core, store: failing }, budget());

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: early.messageId }]);
    expect(deadLetters.letters.map((l) => [l.messageId, l.error.code])).toEqual([[last.messageId, 'retries-exhausted']]);
    expect(deadLetters.letters[0]?.error.message).toMatch(/ThrottlingException.*Gave up after 5 receives \(storage-unavailable\)/);
  });

  it('dead-letters an event whose validateEvent throws as schema-violation, naming the instance', async () => {
    // Bug: a validator that threw escaped as a plain Error and blocked its group for five receives.
    const { core, store, deadLetters } = makeCore({
      registry: defineRegistry({
        ...faultyRegistry,
        faulty: {
          ...faultyRegistry.faulty,
          validateEvent: (event) => ((event.payload as { size: number }).size > 3 ? 'too big' : undefined),
        },
      }),
    });

    const response = await processBatch(
      [
        fifoRecord('faulty/v1', sequence(1), { type: 'OK', payload: { size: 1 } }),
        fifoRecord('faulty/v1', sequence(2), { type: 'OK' }),
        fifoRecord('faulty/v1', sequence(3), { type: 'OK', payload: { size: 2 } }),
      ],
      core,
      budget(),
    );

    expect(response.batchItemFailures).toEqual([]);
    expect(deadLetters.letters.map((l) => l.error.code)).toEqual(['schema-violation']);
    expect(deadLetters.letters[0]?.error.message).toMatch(/validateEvent of machine 'faulty' threw TypeError: .*'size'.* faulty\/v1/);
    expect((await stored(store, 'faulty/v1')).snapshot.context).toEqual({ n: 2 });
  });

  it('dead-letters the events of an instance whose migrate() throws, with the reason', async () => {
    // Bug: a throwing migrate() escaped open() as a plain Error: every receive failed, then SQS's redrive
    // moved the events to the DLQ without a reason.
    const v1 = makeCore();
    await processBatch([fifoRecord('faulty/m1', sequence(1), { type: 'OK' })], v1.core, budget());
    const v2 = makeCore({
      store: v1.store,
      registry: defineRegistry({
        ...faultyRegistry,
        faulty: {
          ...faultyRegistry.faulty,
          version: 2,
          migrate: () => {
            throw new Error('the v1 layout is not supported');
          },
        },
      }),
    });

    const response = await processBatch([fifoRecord('faulty/m1', sequence(2), { type: 'OK' })], v2.core, budget());

    expect(response.batchItemFailures).toEqual([]);
    expect(v2.deadLetters.letters.map((l) => l.error.code)).toEqual(['unknown-machine-version']);
    expect(v2.deadLetters.letters[0]?.error.message).toMatch(
      /migrate\(\) of machine 'faulty' threw Error: the v1 layout is not supported on instance faulty\/m1/,
    );
    expect((await stored(v1.store, 'faulty/m1')).machineVersion).toBe(1);
  });

  it('acknowledges, not dead-letters, a last-receive record whose failed write landed after all', async () => {
    // Bug: an ambiguous write (DynamoDB applied it, the response was lost) on the last receive was dead-lettered
    // although saved; a redriven copy gets a new SequenceNumber and would be applied twice.
    const { core, store, deadLetters } = makeCore();
    const ambiguous: InstanceStore = {
      read: (pk) => store.read(pk),
      write: async (record, expected) => {
        await store.write(record, expected);
        throw new RetryableError('storage-unavailable', 'DynamoDB call for counter/amb failed with TimeoutError: socket hang up.');
      },
      findDue: (shard, now, limit) => store.findDue(shard, now, limit),
    };
    const record = fifoRecord('counter/amb', sequence(1), { type: 'COUNT' }, { receiveCount: 5 });

    const response = await processBatch([record], { ...core, store: ambiguous }, budget());

    expect(response.batchItemFailures).toEqual([]);
    expect(deadLetters.letters).toEqual([]);
    expect((await stored(store, 'counter/amb')).snapshot.context).toEqual({ count: 2 });
  });

  it('keeps no history when historyLimit is 0', async () => {
    // Bug: slice(-0) is slice(0), so a limit of 0 kept the whole history and the item grew without bound.
    const { core, store } = makeCore({ historyLimit: 0 });

    await processBatch([fifoRecord('counter/nohist', sequence(1), { type: 'COUNT' })], core, budget());

    expect((await stored(store, 'counter/nohist')).history).toEqual([]);
  });

  it('reads once and writes once per group per batch, however many events the group holds', async () => {
    const { core, store } = makeCore();
    const records = [
      ...[1, 2, 3, 4].map((n) => fifoRecord('counter/x', sequence(n), { type: 'COUNT' })),
      ...[5, 6, 7].map((n) => fifoRecord('counter/y', sequence(n), { type: 'COUNT' })),
      ...[8, 9, 10].map((n) => fifoRecord('approval/z', sequence(n), { type: 'SUBMIT', by: 'eve' })),
    ];

    await processBatch(records, core, budget());

    expect(store.calls).toEqual({ read: 3, write: 3, findDue: 0 });
  });

  it('resolves two handlers racing on one instance by retry: one write wins, the result equals sequential application', async () => {
    // Both handlers read version 0 before either writes: the second write must conflict, re-read and re-apply.
    const shared = new MemoryStore();
    const { store: racing, conflicts } = racingStore(shared);
    const one = makeCore({ store: racing });
    const two = makeCore({ store: racing });
    // SQS handed the first record to both (visibility timeout ran out), and the second only to the second handler.
    const first = fifoRecord('counter/race', sequence(1), { type: 'COUNT' });
    const second = fifoRecord('counter/race', sequence(2), { type: 'COUNT' });

    const [r1, r2] = await Promise.all([processBatch([first], one.core, budget()), processBatch([first, second], two.core, budget())]);

    expect(r1.batchItemFailures).toEqual([]);
    expect(r2.batchItemFailures).toEqual([]);
    expect(shared.calls.write).toBe(3); // two racing writes, one conflict, one retried write
    expect(conflicts()).toBe(1);
    const item = await stored(shared, 'counter/race');
    expect(item.snapshot.context).toEqual({ count: 4 });
    expect(item.version).toBe(2);
    expect(item.history.map((h) => h.seq)).toEqual([sequence(1).toString(), sequence(2).toString()]);
  });

  it('dead-letters every record of an unknown machine or a malformed group id, naming the fix', async () => {
    const { core, deadLetters } = makeCore();

    await processBatch(
      [fifoRecord('nosuch/1', sequence(1), { type: 'GO' }), fifoRecord('Counter', sequence(2), { type: 'COUNT' })],
      core,
      budget(),
    );

    expect(deadLetters.letters.map((l) => l.error.code)).toEqual(['unknown-machine', 'invalid-instance-key']);
    expect(deadLetters.letters[0]?.error.message).toMatch(/No machine named 'nosuch'.*add the machine to the registry/);
    expect(deadLetters.letters[1]?.error.message).toMatch(/<machine>\/<instanceId>/);
  });

  it('keeps the history bounded to the last 20 events', async () => {
    const { core, store } = makeCore();
    const records = Array.from({ length: 25 }, (_, i) => fifoRecord('faulty/hist', sequence(i + 1), { type: 'OK' }));

    await processBatch(records.slice(0, 10), core, budget());
    await processBatch(records.slice(10), core, budget());

    const item = await stored(store, 'faulty/hist');
    expect(item.history).toHaveLength(20);
    expect(item.history[0]?.seq).toBe(sequence(6).toString());
    expect(item.snapshot.context).toEqual({ n: 25 });
  });
});
