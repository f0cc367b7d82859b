import { assign, setup } from 'xstate';
import type { InstanceInput } from '../functions/runtime/registry.ts';

type PaymentEvent = { type: 'CHECKOUT'; amount: number } | { type: 'PAID'; reference: string };

/**
 * An order waiting on a payment callback: after `CHECKOUT` it waits for `PAID` and expires after
 * 15 minutes if none arrives (a durable timer: it survives the Lambda that armed it).
 */
export const paymentMachine = setup({
  types: {
    context: {} as { amount: number; reference: string | undefined },
    input: {} as InstanceInput,
    events: {} as PaymentEvent,
  },
  delays: { paymentWindow: 15 * 60 * 1000 },
}).createMachine({
  id: 'payment',
  context: { amount: 0, reference: undefined },
  initial: 'cart',
  states: {
    cart: {
      tags: ['resolve'],
      on: { CHECKOUT: { target: 'awaitingPayment', actions: assign({ amount: ({ event }) => event.amount }) } },
    },
    awaitingPayment: {
      tags: ['resolve'],
      after: { paymentWindow: 'expired' },
      on: { PAID: { target: 'paid', actions: assign({ reference: ({ event }) => event.reference }) } },
    },
    paid: { type: 'final' },
    expired: { tags: ['reject'], on: { CHECKOUT: { target: 'awaitingPayment', actions: assign({ amount: ({ event }) => event.amount }) } } },
  },
});
