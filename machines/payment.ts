import { assign, setup } from 'xstate';
import type { InstanceInput } from '../runtime/index.ts';

type PaymentEvent = { type: 'CHECKOUT'; amount: number; windowSeconds?: number } | { type: 'PAID'; reference: string };

const defaultWindowMs = 15 * 60 * 1000;

/**
 * An order waiting on a payment callback: after `CHECKOUT` it waits for `PAID` and expires after
 * 15 minutes (or `windowSeconds`) if none arrives: a durable timer, it survives the Lambda that armed it.
 */
export const paymentMachine = setup({
  types: {
    context: {} as { amount: number; windowMs: number; reference: string | undefined },
    input: {} as InstanceInput,
    events: {} as PaymentEvent,
  },
  delays: { paymentWindow: ({ context }) => context.windowMs },
  actions: {
    checkout: assign(({ event }) =>
      event.type === 'CHECKOUT'
        ? { amount: event.amount, windowMs: event.windowSeconds ? event.windowSeconds * 1000 : defaultWindowMs }
        : {},
    ),
  },
}).createMachine({
  id: 'payment',
  context: { amount: 0, windowMs: defaultWindowMs, reference: undefined },
  initial: 'cart',
  states: {
    cart: {
      tags: ['resolve'],
      on: { CHECKOUT: { target: 'awaitingPayment', actions: 'checkout' } },
    },
    awaitingPayment: {
      tags: ['resolve'],
      after: { paymentWindow: 'expired' },
      on: { PAID: { target: 'paid', actions: assign({ reference: ({ event }) => event.reference }) } },
    },
    paid: { type: 'final' },
    expired: { tags: ['reject'], on: { CHECKOUT: { target: 'awaitingPayment', actions: 'checkout' } } },
  },
});
