import { assign, fromPromise, setup } from 'xstate';

/** A promise that never settles: an invoked step that hangs. */
export const never = (): Promise<never> => new Promise<never>(() => undefined);

/**
 * A machine that misbehaves on purpose: each event type fails one way (an action, a guard or an invoked
 * actor without onError throws; HANG never settles), and `OK` counts in `n`.
 */
export const faultyMachine = setup({
  types: {
    context: {} as { n: number },
    events: {} as { type: 'OK' } | { type: 'ACTION_THROWS' } | { type: 'GUARD_THROWS' } | { type: 'INVOKE_THROWS' } | { type: 'HANG' },
  },
  actions: {
    explode: () => {
      throw new TypeError('the ledger is closed');
    },
  },
  guards: {
    exploding: () => {
      throw new RangeError('the guard cannot decide');
    },
  },
  actors: {
    failing: fromPromise<never>(async () => {
      throw new Error('the payment provider is down');
    }),
    hang: fromPromise(never),
  },
}).createMachine({
  id: 'faulty',
  context: { n: 0 },
  initial: 'idle',
  states: {
    idle: {
      tags: ['resolve'],
      on: {
        OK: { actions: assign({ n: ({ context }) => context.n + 1 }) },
        ACTION_THROWS: { actions: 'explode' },
        GUARD_THROWS: { guard: 'exploding', target: 'idle' },
        INVOKE_THROWS: 'calling',
        HANG: 'hanging',
      },
    },
    // No onError: a rejection puts the whole machine into status 'error'.
    calling: { invoke: { src: 'failing', onDone: 'idle' } },
    hanging: { invoke: { src: 'hang' } },
  },
});

const day = 24 * 3600 * 1000;

/** A one-day timer whose action throws, and a two-day timer that works: ARM rests with both pending. */
export const brokenBellMachine = setup({
  actions: {
    explode: () => {
      throw new TypeError('the bell is broken');
    },
  },
  delays: { oneDay: day, twoDays: 2 * day },
}).createMachine({
  id: 'bell',
  initial: 'idle',
  states: {
    idle: { tags: ['resolve'], on: { ARM: 'armed' } },
    armed: { tags: ['resolve'], after: { oneDay: { actions: 'explode' }, twoDays: 'rang' } },
    rang: { tags: ['resolve'] },
  },
});
