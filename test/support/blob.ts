import { randomBytes } from 'node:crypto';
import { assign, fromPromise, setup } from 'xstate';
import { defineRegistry } from '../../runtime/core/registry.ts';

/**
 * A machine for large payloads: its context keeps every ADD's `data`, so it grows by what it is sent. HANG never
 * settles (a retryable failure on every receive); BOOM throws (a permanent one).
 */
export const blobMachine = setup({
  types: {
    context: {} as { items: string[] },
    events: {} as { type: 'ADD'; data: string } | { type: 'HANG'; pad?: string } | { type: 'BOOM'; pad?: string },
  },
  actors: { forever: fromPromise(() => new Promise<never>(() => {})) },
  actions: {
    boom: () => {
      throw new Error('the machine refuses this event');
    },
  },
}).createMachine({
  id: 'blob',
  context: { items: [] },
  initial: 'open',
  states: {
    open: {
      tags: 'resolve',
      on: {
        ADD: { actions: assign({ items: ({ context, event }) => [...context.items, event.data] }) },
        HANG: 'stuck',
        BOOM: { actions: 'boom' },
      },
    },
    stuck: { invoke: { src: 'forever' } },
  },
});

export const blobRegistry = defineRegistry({ blob: { machine: blobMachine, version: 1 } });

/** `chars` characters of incompressible text: gzip cannot take it much below three quarters of its size. */
export function noise(chars: number): string {
  return randomBytes(Math.ceil((chars * 3) / 4))
    .toString('base64')
    .slice(0, chars);
}
