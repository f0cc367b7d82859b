/**
 * A machine whose context holds about `bytes` of order lines, for the snapshot-size scale test. Each
 * `TOUCH` changes one counter and leaves the lines alone, so the cost measured is carrying the context
 * (restore, persist, store), not computing with it.
 */
import { assign, setup } from 'xstate';
import { defineRegistry, type InstanceInput, type MachineRegistry } from '../runtime/core/registry.ts';
import { seededRandom } from './harness.ts';

interface Line {
  readonly id: string;
  readonly sku: string;
  readonly name: string;
  readonly qty: number;
  readonly price: number;
  readonly tags: readonly string[];
}

const words = ['oak', 'steel', 'blue', 'large', 'spare', 'fitted', 'matte', 'north', 'hinge', 'panel', 'valve', 'cable', 'frame', 'lamp'];

/** Deterministic order lines whose JSON is about `bytes` long. */
export function linesOf(bytes: number): Line[] {
  const random = seededRandom(bytes);
  const pick = () => words[Math.floor(random() * words.length)] ?? 'oak';
  const lines: Line[] = [];
  let size = 2;
  while (size < bytes) {
    const line: Line = {
      id: `line-${lines.length}`,
      sku: `SKU-${Math.floor(random() * 1e6)}`,
      name: `${pick()} ${pick()} ${pick()}`,
      qty: 1 + Math.floor(random() * 20),
      price: Math.round(random() * 100_000) / 100,
      tags: [pick(), pick()],
    };
    size += JSON.stringify(line).length + 1;
    lines.push(line);
  }
  return lines;
}

export function blobMachine(bytes: number) {
  return setup({
    types: {
      context: {} as { touches: number; lines: Line[] },
      input: {} as InstanceInput,
      events: {} as { type: 'TOUCH' },
    },
  }).createMachine({
    id: 'blob',
    context: () => ({ touches: 0, lines: linesOf(bytes) }),
    initial: 'idle',
    states: {
      idle: {
        tags: ['resolve'],
        on: { TOUCH: { actions: assign({ touches: ({ context }) => context.touches + 1 }) } },
      },
    },
  });
}

export const blobName = (kb: number) => `blob-${kb}k`;

/** One machine per context size, named `blob-<kb>k`. */
export function blobRegistry(sizesKb: readonly number[]): MachineRegistry {
  return defineRegistry(Object.fromEntries(sizesKb.map((kb) => [blobName(kb), { machine: blobMachine(kb * 1024), version: 1 }])));
}
