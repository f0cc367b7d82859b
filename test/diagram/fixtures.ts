import { and, assign, fromPromise, not, setup, stateIn } from 'xstate';

/**
 * A machine that uses every statechart feature the diagram draws, beyond the examples: a parallel root region
 * inside a compound state, history (deep), eventless transitions with guards, numeric and named delays, a
 * re-entering self-transition, a targetless transition, transitions from a child to its ancestor's sibling and
 * from a parent into its own child, a transition with two targets (one per region), inline actors and guards,
 * wildcard descriptors, higher-order guards, a tag on a compound state inherited by its children, and a
 * transition on the machine itself.
 */
export const kitchenSinkMachine = setup({
  types: { context: {} as { n: number }, events: {} as { type: string } },
  guards: { ready: () => true, big: ({ context }) => context.n > 10 },
  delays: { soon: 5000, later: ({ context }) => context.n * 1000 },
  actors: { fetchThing: fromPromise(async () => 1) },
}).createMachine({
  id: 'sink',
  context: { n: 0 },
  initial: 'idle',
  on: { RESET: { target: '.idle', reenter: true }, 'debug.*': { actions: assign({ n: 0 }) } },
  states: {
    idle: {
      tags: ['resolve'],
      on: {
        START: 'working',
        BOTH: { target: ['#sink.split.left.l2', '#sink.split.right.r2'] },
        PING: { actions: assign({ n: ({ context }) => context.n + 1 }) },
      },
    },
    working: {
      tags: ['resolve'],
      initial: 'step1',
      after: { 60000: 'idle' },
      on: { JUMP: '.step2', BACK: 'working.hist', SELF: { target: 'working', reenter: true } },
      states: {
        step1: { on: { NEXT: 'step2' }, after: { soon: 'step2', later: { target: '#sink.split', guard: and(['ready', not('big')]) } } },
        step2: {
          invoke: [
            { src: 'fetchThing', onDone: 'step3' },
            { src: fromPromise(async () => 2), onError: '#sink.failed' },
          ],
        },
        step3: {
          always: [
            { guard: 'big', target: '#sink.done' },
            { guard: stateIn('#sink.working.step3'), target: 'step1' },
          ],
        },
        hist: { type: 'history', history: 'deep', target: 'step1' },
      },
    },
    split: {
      type: 'parallel',
      states: {
        left: { initial: 'l1', states: { l1: { on: { L: 'l2' } }, l2: { type: 'final' } } },
        right: {
          initial: 'r1',
          states: { r1: { on: { R: { target: 'r2', guard: ({ context }) => context.n > 0 } } }, r2: { type: 'final' } },
        },
      },
      onDone: 'done',
    },
    failed: { tags: ['reject'], on: { '*': 'idle' } },
    done: { type: 'final' },
  },
});
