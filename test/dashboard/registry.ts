/**
 * The machines the dashboard's browser tests run `settle dev` with: the examples, and a ledger whose booking
 * fails while it is closed (`setLedgerClosed(true)`), so that a test can make a dead letter, open the ledger,
 * and redrive the letter to an instance that then takes it.
 */
import { assign, setup } from 'xstate';
import { registry as examples } from '../../machines/index.ts';
import { defineRegistry } from '../../runtime/index.ts';

// settle dev loads the registry module afresh on each reload: the switch lives on globalThis, shared by every copy.
const switchName = Symbol.for('settle.test.ledgerClosed');
const flags = globalThis as unknown as Record<symbol, boolean | undefined>;

export function setLedgerClosed(closed: boolean): void {
  flags[switchName] = closed;
}

export const ledgerMachine = setup({
  types: {
    context: {} as { entries: number; total: number },
    events: {} as { type: 'BOOK'; amount: number },
  },
  actions: {
    book: assign(({ context, event }) => {
      if (flags[switchName]) throw new Error('the ledger is closed for the night');
      return { entries: context.entries + 1, total: context.total + event.amount };
    }),
  },
}).createMachine({
  id: 'ledger',
  context: { entries: 0, total: 0 },
  initial: 'open',
  states: {
    open: { tags: ['resolve'], on: { BOOK: { actions: 'book' } } },
  },
});

export const registry = defineRegistry({
  ...examples,
  ledger: { machine: ledgerMachine, version: 1 },
});
