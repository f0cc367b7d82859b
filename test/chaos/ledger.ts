/**
 * The chaos tests' machine: a ledger whose context appends each event's `n`, so that afterwards an
 * instance's stored state shows exactly which events were applied, how often and in which order.
 * Each ADD runs an invoked side effect first (the only way into `idle` again), given the event's
 * idempotency key: the chaos child reports every run of it, so re-runs after a crash are visible (I5).
 */
import { assign, fromPromise, setup } from 'xstate';
import { idempotencyKeyOf } from '../../runtime/core/event.ts';
import { defineRegistry, type InstanceInput } from '../../runtime/core/registry.ts';

export const ledgerMachineName = 'ledger';

export interface LedgerEffectInput {
  readonly n: number;
  /** `<instanceKey>#<sequenceNumber>` */
  readonly key: string;
  /** The producer asks for a slow side effect to force a second consumer (see the chaos child). */
  readonly slow: boolean;
}

export type LedgerEvent = { type: 'ADD'; n: number; slow?: boolean };

export interface LedgerContext {
  readonly log: readonly number[];
}

export function createLedgerRegistry(effect: (input: LedgerEffectInput) => Promise<number>) {
  const machine = setup({
    types: { context: {} as LedgerContext, events: {} as LedgerEvent, input: {} as InstanceInput },
    actors: { effect: fromPromise<number, LedgerEffectInput>(({ input }) => effect(input)) },
  }).createMachine({
    id: ledgerMachineName,
    context: { log: [] },
    initial: 'idle',
    states: {
      idle: { tags: ['resolve'], on: { ADD: 'applying' } },
      applying: {
        invoke: {
          src: 'effect',
          input: ({ event }) => ({ n: (event as LedgerEvent).n, key: idempotencyKeyOf(event), slow: (event as LedgerEvent).slow === true }),
          onDone: { target: 'idle', actions: assign({ log: ({ context, event }) => [...context.log, event.output] }) },
        },
      },
    },
  });
  return defineRegistry({
    [ledgerMachineName]: {
      machine,
      version: 1,
      validateEvent: (event) =>
        event.type === 'ADD' && !(Number.isSafeInteger(event.n) && (event.n as number) >= 1) ? '"n" must be a whole number ≥ 1' : undefined,
    },
  });
}
