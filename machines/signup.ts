import { assign, fromPromise, setup } from 'xstate';
import { idempotencyKeyOf } from '../runtime/index.ts';
import type { InstanceInput } from '../runtime/index.ts';

export interface VerificationEmail {
  readonly email: string;
  /** Pass it to the e-mail provider: a re-run after a crash must not send a second e-mail. */
  readonly idempotencyKey: string;
}

type SignupEvent = { type: 'REGISTER'; email: string } | { type: 'VERIFY' } | { type: 'RETRY' };

/**
 * A sign-up waiting on an e-mail click: `REGISTER` sends a verification e-mail through the named
 * promise actor `sendVerificationEmail` (given the event's idempotency key), then waits, settled, for
 * `VERIFY`. If sending fails, the instance settles in `failed` (tagged `reject`), which accepts `RETRY`.
 * Replace the actor with a real one through `signupMachine.provide({ actors: { ... } })`.
 */
export const signupMachine = setup({
  types: {
    context: {} as { email: string | undefined; attempts: number; lastError: string | undefined },
    input: {} as InstanceInput,
    events: {} as SignupEvent,
  },
  actors: {
    sendVerificationEmail: fromPromise<{ messageId: string }, VerificationEmail>(async ({ input }) => {
      if (!input.email.includes('@')) throw new Error(`'${input.email}' is not an e-mail address`);
      return { messageId: input.idempotencyKey };
    }),
  },
}).createMachine({
  id: 'signup',
  context: { email: undefined, attempts: 0, lastError: undefined },
  initial: 'registering',
  states: {
    registering: {
      tags: ['resolve'],
      on: { REGISTER: { target: 'sendingEmail', actions: assign({ email: ({ event }) => event.email }) } },
    },
    sendingEmail: {
      entry: assign({ attempts: ({ context }) => context.attempts + 1 }),
      invoke: {
        src: 'sendVerificationEmail',
        input: ({ context, event }) => ({ email: context.email ?? '', idempotencyKey: idempotencyKeyOf(event) }),
        onDone: { target: 'awaitingVerification', actions: assign({ lastError: undefined }) },
        onError: {
          target: 'failed',
          actions: assign({ lastError: ({ event }) => (event.error instanceof Error ? event.error.message : String(event.error)) }),
        },
      },
    },
    awaitingVerification: {
      tags: ['resolve'],
      on: { VERIFY: 'verified' },
    },
    failed: {
      tags: ['reject'],
      on: { RETRY: 'sendingEmail', REGISTER: { target: 'sendingEmail', actions: assign({ email: ({ event }) => event.email }) } },
    },
    verified: { type: 'final' },
  },
});
