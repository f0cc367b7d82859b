import { approvalMachine } from '../../machines/approval.ts';
import { counterMachine } from '../../machines/counter.ts';
import { registry as examples } from '../../machines/index.ts';
import { defineRegistry } from '../../runtime/index.ts';
import { faultyMachine } from './faulty.ts';

/**
 * The machines test/cli/client.test.ts runs `settle dev` with: the examples, the same machines under names of
 * their own (so that one test's instances never show in another's listing), and one whose action throws.
 */
export const registry = defineRegistry({
  ...examples,
  document: { machine: approvalMachine, version: 1 },
  tally: { machine: counterMachine, version: 1 },
  faulty: { machine: faultyMachine, version: 1 },
});
