import { describe, expect, it } from 'vitest';
import { createActor, fromPromise, setup, toPromise, type AnyMachineSnapshot, type AnyStateMachine } from 'xstate';
import { activeStatePaths, isSettled, settledOutcome } from '../../runtime/core/settled.ts';

/** A document review: two regions that rest independently; `legal` can end in a final state under a `reject` tag. */
const review = setup({}).createMachine({
  id: 'review',
  initial: 'drafting',
  states: {
    drafting: { on: { SUBMIT: 'review', PARK: 'parked' } },
    parked: {
      tags: ['resolve'],
      initial: 'shelf',
      states: { shelf: {} },
    },
    review: {
      type: 'parallel',
      states: {
        legal: {
          initial: 'reading',
          states: {
            reading: { on: { LEGAL_OK: 'approved', LEGAL_NO: 'refused', LEGAL_VETO: 'vetoed' } },
            approved: { tags: ['resolve'] },
            refused: { tags: ['reject'] },
            vetoed: { tags: ['reject'], initial: 'closed', states: { closed: { type: 'final' } } },
          },
        },
        finance: {
          initial: 'checking',
          states: {
            checking: { on: { FINANCE_OK: 'approved', FINANCE_DONE: 'closed' } },
            approved: { tags: ['resolve'] },
            closed: { type: 'final' },
          },
        },
      },
    },
  },
});

function snapshotAfter(machine: AnyStateMachine, events: readonly string[]): AnyMachineSnapshot {
  const actor = createActor(machine).start();
  for (const type of events) actor.send({ type });
  const snapshot = actor.getSnapshot();
  actor.stop();
  return snapshot;
}

/** A machine that ends in status 'error': its invoked step rejects and nothing handles it. */
async function erroredSnapshot(): Promise<AnyMachineSnapshot> {
  const machine = setup({
    actors: {
      charge: fromPromise<never>(async () => {
        throw new Error('card declined');
      }),
    },
  }).createMachine({ id: 'pay', initial: 'charging', states: { charging: { invoke: { src: 'charge' } } } });
  const actor = createActor(machine);
  actor.start();
  await expect(toPromise(actor)).rejects.toThrow('card declined');
  return actor.getSnapshot();
}

describe('isSettled', () => {
  it('is false while the machine is in an untagged state, and true once it rests in a tagged one', () => {
    expect(isSettled(snapshotAfter(review, []))).toBe(false);
    expect(isSettled(snapshotAfter(review, ['PARK']))).toBe(true);
  });

  it('requires every region to rest: one resting region is not enough, unlike hasTag', () => {
    const half = snapshotAfter(review, ['SUBMIT', 'LEGAL_OK']);

    expect(half.hasTag('resolve')).toBe(true);
    expect(isSettled(half)).toBe(false);
    expect(isSettled(snapshotAfter(review, ['SUBMIT', 'LEGAL_OK', 'FINANCE_OK']))).toBe(true);
    expect(isSettled(snapshotAfter(review, ['SUBMIT', 'LEGAL_NO', 'FINANCE_OK']))).toBe(true);
  });

  it('counts a final state inside a region as resting', () => {
    expect(isSettled(snapshotAfter(review, ['SUBMIT', 'FINANCE_DONE']))).toBe(false);
    expect(isSettled(snapshotAfter(review, ['SUBMIT', 'FINANCE_DONE', 'LEGAL_OK']))).toBe(true);
  });

  it('takes a done or failed machine as settled, whatever state it stopped in', async () => {
    const done = createActor(setup({}).createMachine({ id: 'once', initial: 'end', states: { end: { type: 'final' } } }))
      .start()
      .getSnapshot();

    expect(done.status).toBe('done');
    expect(isSettled(done)).toBe(true);
    const failed = await erroredSnapshot();
    expect(failed.status).toBe('error');
    expect(failed.value).toBe('charging');
    expect(isSettled(failed)).toBe(true);
  });
});

describe('settledOutcome', () => {
  it('is done for a machine that reached its final state, and error for one that failed', async () => {
    const done = createActor(setup({}).createMachine({ id: 'once', initial: 'end', states: { end: { type: 'final' } } }))
      .start()
      .getSnapshot();

    expect(settledOutcome(done)).toBe('done');
    expect(settledOutcome(await erroredSnapshot())).toBe('error');
  });

  it('is resolve when every region rests in resolve, and reject as soon as any one rests in reject', () => {
    expect(settledOutcome(snapshotAfter(review, ['SUBMIT', 'LEGAL_OK', 'FINANCE_OK']))).toBe('resolve');
    expect(settledOutcome(snapshotAfter(review, ['SUBMIT', 'LEGAL_NO', 'FINANCE_OK']))).toBe('reject');
  });

  it('sees a reject tag through the ancestors of a final state inside a region', () => {
    const vetoed = snapshotAfter(review, ['SUBMIT', 'LEGAL_VETO', 'FINANCE_OK']);

    expect(vetoed.status).toBe('active');
    expect(isSettled(vetoed)).toBe(true);
    expect(settledOutcome(vetoed)).toBe('reject');
  });

  it('sees a resolve tag on an ancestor of the active state', () => {
    expect(settledOutcome(snapshotAfter(review, ['PARK']))).toBe('resolve');
  });
});

describe('activeStatePaths', () => {
  it('gives each active state as a dot path from the root, one per region', () => {
    expect(activeStatePaths(snapshotAfter(review, []))).toEqual(['drafting']);
    expect(activeStatePaths(snapshotAfter(review, ['PARK']))).toEqual(['parked.shelf']);
    expect(activeStatePaths(snapshotAfter(review, ['SUBMIT', 'LEGAL_VETO']))).toEqual([
      'review.legal.vetoed.closed',
      'review.finance.checking',
    ]);
  });
});
