import { assign, fromPromise, setup } from 'xstate';
import type { InstanceInput } from '../runtime/index.ts';

/**
 * The classic: `COUNT` from the settled `even` state runs two invoked promise steps
 * (`counting` → `odd` → `even`), each adding one, and settles again. After n COUNTs, count = 2n.
 */
export const counterMachine = setup({
  types: {
    context: {} as { count: number },
    input: {} as InstanceInput,
    events: {} as { type: 'COUNT' },
  },
  actors: {
    step: fromPromise<number, { count: number }>(async ({ input }) => input.count + 1),
  },
}).createMachine({
  id: 'counter',
  context: { count: 0 },
  initial: 'even',
  states: {
    even: {
      tags: ['resolve'],
      on: { COUNT: 'counting' },
    },
    counting: {
      invoke: {
        src: 'step',
        input: ({ context }) => ({ count: context.count }),
        onDone: { target: 'odd', actions: assign({ count: ({ event }) => event.output }) },
      },
    },
    odd: {
      invoke: {
        src: 'step',
        input: ({ context }) => ({ count: context.count }),
        onDone: { target: 'even', actions: assign({ count: ({ event }) => event.output }) },
      },
    },
  },
});
