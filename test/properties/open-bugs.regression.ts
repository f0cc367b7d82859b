/**
 * Bugs found by the reliability suite and still open in functions/** (see vitest.regressions.config.ts).
 */
import type { SQSRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { assign, setup } from 'xstate';
import { MemoryDeadLetterQueue } from '../../functions/runtime/dead-letters.ts';
import { MemoryStore } from '../../functions/runtime/memory-store.ts';
import { processBatch, type WorkerCore } from '../../functions/runtime/process-batch.ts';
import { defineRegistry, type MachineRegistry } from '../../functions/runtime/registry.ts';
import { fifoRecord, sequence } from '../support/records.ts';

const tally = setup({ types: { context: {} as { n: number }, events: {} as { type: 'OK'; payload?: { size: number } } } }).createMachine({
  id: 'tally',
  context: { n: 0 },
  initial: 'idle',
  states: { idle: { tags: ['resolve'], on: { OK: { actions: assign({ n: ({ context }) => context.n + 1 }) } } } },
});

function makeCore(registry: MachineRegistry) {
  const store = new MemoryStore();
  const deadLetters = new MemoryDeadLetterQueue();
  const core: WorkerCore = { registry, store, deadLetters, now: () => 0, maxReceiveCount: 5, wakeShards: 8 };
  return { core, store, deadLetters, run: (records: SQSRecord[]) => processBatch(records, core, () => 2_000) };
}

describe('worker regressions (open)', () => {
  it('dead-letters an event whose validateEvent throws, on the first receive, naming the instance', async () => {
    // Bug: applyRecord (process-batch.ts) calls definition.validateEvent() outside any error mapping. A validator
    // that throws on a malformed event (here: `event.payload.size` on an event without payload — the usual way
    // a hand-written validator fails) escapes as a plain Error, asPermanent() treats it as retryable, the
    // instance's group is blocked for maxReceiveCount receives, and the letter finally says
    // "Cannot read properties of undefined (reading 'size') Gave up after 5 receives (TypeError)." — naming
    // neither the instance nor a fix. Fix: in applyRecord, wrap the call —
    //   let problem: string | undefined;
    //   try { problem = definition.validateEvent?.(message.event); }
    //   catch (error) {
    //     const { name, message: text } = describeError(error);
    //     throw new PermanentError('schema-violation', `validateEvent of machine '${key.machine}' threw ${name}: ${text} ` +
    //       `on event '${message.event.type}' for instance ${key.key}. Make it return a message for bad input ` +
    //       'instead of throwing, then redrive the event from the DLQ.', { instanceKey: key.key, cause: error });
    //   }
    const { run, store, deadLetters } = makeCore(
      defineRegistry({ tally: { machine: tally, version: 1, validateEvent: (event) => ((event.payload as { size: number }).size > 3 ? 'too big' : undefined) } }),
    );

    const response = await run([
      fifoRecord('tally/t1', sequence(1), { type: 'OK', payload: { size: 1 } }),
      fifoRecord('tally/t1', sequence(2), { type: 'OK' }),
      fifoRecord('tally/t1', sequence(3), { type: 'OK', payload: { size: 2 } }),
    ]);

    expect(response.batchItemFailures).toEqual([]);
    expect(deadLetters.letters.map((letter) => letter.error.code)).toEqual(['schema-violation']);
    expect(deadLetters.letters[0]?.error.message).toContain('tally/t1');
    expect(deadLetters.letters[0]?.error.message).toContain("reading 'size'");
    expect((await store.read('tally/t1'))?.snapshot.context).toEqual({ n: 2 });
  });

  it("dead-letters the events of an instance whose migrate() throws, with a reason, instead of leaving them to SQS's redrive", async () => {
    // Bug: InstanceSession.open (instance.ts, migrate()) calls definition.migrate() unguarded. When it throws,
    // runGroup rethrows the plain Error (`if (!isPermanent(error)) throw error;`), processGroup hands every record
    // back to SQS — on every receive, including the last, since asPermanent() only sees per-record errors — so
    // after maxReceiveCount receives SQS moves each event of that instance to the DLQ with no settle-error and no
    // settle-reason (I4), each after blocking the group for maxReceiveCount × the visibility timeout.
    // Fix: in instance.ts migrate(), wrap the call —
    //   let migrated: PersistedSnapshot | undefined;
    //   try { migrated = definition.migrate?.(stored.snapshot, stored.machineVersion); }
    //   catch (error) {
    //     throw new PermanentError('unknown-machine-version', `migrate() of machine '${key.machine}' threw ` +
    //       `${describeError(error).message} on instance ${key.key}, saved by version ${stored.machineVersion}. ` +
    //       'Fix migrate() for that version and redrive the events from the DLQ.', { instanceKey: key.key, cause: error });
    //   }
    // (More generally, processGroup could dead-letter with 'retries-exhausted' and the error's description any
    // record still failing on its last receive, so that no failure path ends in a reason-less SQS redrive.)
    const v1 = makeCore(defineRegistry({ tally: { machine: tally, version: 1 } }));
    await v1.run([fifoRecord('tally/m1', sequence(1), { type: 'OK' })]);
    const saved = await v1.store.read('tally/m1');
    const v2 = makeCore(
      defineRegistry({
        tally: {
          machine: tally,
          version: 2,
          migrate: () => {
            throw new Error('the v1 layout is not supported');
          },
        },
      }),
    );
    if (saved) await v2.store.write(saved, undefined);

    const response = await v2.run([fifoRecord('tally/m1', sequence(2), { type: 'OK' })]);

    expect(response.batchItemFailures).toEqual([]);
    expect(v2.deadLetters.letters.map((letter) => letter.error.code)).toEqual(['unknown-machine-version']);
    expect(v2.deadLetters.letters[0]?.error.message).toContain('tally/m1');
    expect(v2.deadLetters.letters[0]?.error.message).toContain('the v1 layout is not supported');
  });
});
